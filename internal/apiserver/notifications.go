package apiserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// createNotification subscribes a webhook to one of the caller's services
// or endpoints; the URL must be inside the admin's allow-list. The secret
// is in this answer only.
func (a *API) createNotification(r *http.Request, req api.CreateNotificationRequest) (any, error) {
	c := callerOf(r)
	if err := a.webhooks.CheckURL(r.Context(), req.URL); err != nil {
		return nil, err
	}
	t := a.st.NewTxn()
	if req.ServiceID != "" {
		if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, req.ServiceID); err != nil {
			return nil, err
		}
		t.Exists(a.st.ResourceKey(store.KindService, req.ServiceID))
	} else {
		if _, _, err := getOwned[model.Endpoint](a, r, store.KindEndpoint, req.EndpointID); err != nil {
			return nil, err
		}
		t.Exists(a.st.ResourceKey(store.KindEndpoint, req.EndpointID))
	}
	// Deliveries start with the events after this one.
	cursor, err := a.st.LastEventID(r.Context())
	if err != nil {
		return nil, err
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	n := model.Notification{NotificationID: model.NewID(model.PrefixNotification), AccountID: c.AccountID,
		ServiceID: req.ServiceID, EndpointID: req.EndpointID, URL: req.URL, EventTypes: req.EventTypes,
		Secret: hex.EncodeToString(b[:]), Status: model.NotificationEnabled, CreateTime: now(),
		Delivery: model.Delivery{Cursor: cursor}}
	if n.EventTypes == nil {
		n.EventTypes = []string{}
	}
	ok, err := t.Create(a.st.ResourceKey(store.KindNotif, n.NotificationID), n).Commit(r.Context())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, model.Errorf(http.StatusConflict, "IncorrectStatus.Target", "the service or endpoint went away meanwhile")
	}
	return n, nil
}

// listNotifications lists the caller's subscriptions (the admin: all),
// without their secrets.
func (a *API) listNotifications(r *http.Request) (any, error) {
	all, err := store.List[model.Notification](r.Context(), a.st, a.st.KindPrefix(store.KindNotif))
	if err != nil {
		return nil, err
	}
	c := callerOf(r)
	out := []model.Notification{}
	for _, n := range all {
		if c.Admin || n.AccountID == c.AccountID {
			n.Secret = ""
			out = append(out, n)
		}
	}
	return paginate(r, out, func(n model.Notification) string { return n.NotificationID })
}

// deleteNotification removes one of the caller's subscriptions. A
// delivery updating the record's status meanwhile makes it re-read and
// try again (store.Retry), as the other deletes do.
func (a *API) deleteNotification(r *http.Request) (any, error) {
	id := r.PathValue("id")
	key := a.st.ResourceKey(store.KindNotif, id)
	var n model.Notification
	err := store.Retry(r.Context(), func() error {
		cur, rev, err := store.Get[model.Notification](r.Context(), a.st, key)
		if errors.Is(err, store.ErrNotFound) || (err == nil && cur.AccountID != callerOf(r).AccountID) {
			return model.NotFound("Notification", id)
		}
		if err != nil {
			return err
		}
		ok, err := a.st.NewTxn().Unchanged(key, rev).Delete(key).Commit(r.Context())
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrConflict
		}
		n = cur
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, model.Errorf(http.StatusConflict, "Conflict.Notification", "notification %s kept changing (deliveries); retry", id)
	}
	if err != nil {
		return nil, err
	}
	n.Secret = ""
	return n, nil
}
