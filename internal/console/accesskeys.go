package console

import (
	"errors"
	"net/http"

	"github.com/privlink/privlink/internal/api"
)

// AccessKeys: the pairs that sign requests of the Alibaba Cloud RPC API
// (docs/alibaba-api.md). The secret is shown once, in the answer to the
// create, which is rendered directly (never stored in a flash).

type accessKeysData struct {
	Keys   []api.AccessKey
	Region string
	Max    int
	// New is the pair just created (its secret is on this page only).
	New *api.AccessKeyWithSecret
	Err string
}

func (c *Console) accessKeysList(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderAccessKeys(w, r, s, http.StatusOK, accessKeysData{})
}

func (c *Console) renderAccessKeys(w http.ResponseWriter, r *http.Request, s *session, status int, d accessKeysData) {
	cl := c.api(s)
	keys, err := cl.ListAccessKeys(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	region, err := cl.DescribeRegion(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Keys, d.Region, d.Max = keys, region.RegionID, api.MaxAccessKeysPerAccount
	c.render(w, r, status, "access_keys", &view{Title: "AccessKeys", Nav: "access-keys", S: s, D: d})
}

func (c *Console) accessKeyCreate(w http.ResponseWriter, r *http.Request, s *session) {
	k, err := c.api(s).CreateAccessKey(r.Context())
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusUnauthorized {
			c.renderAccessKeys(w, r, s, ae.Status, accessKeysData{Err: ae.Message + " (" + ae.Code + ")"})
			return
		}
		c.fail(w, r, s, err)
		return
	}
	c.renderAccessKeys(w, r, s, http.StatusOK, accessKeysData{New: &k})
}

func (c *Console) accessKeyDelete(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.api(s).DeleteAccessKey(r.Context(), id); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.redirect(w, r, s, "/console/access-keys", "AccessKey "+id+" deleted: requests signed with it now fail.", false)
}
