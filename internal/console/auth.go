package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

type loginData struct {
	Form      *form
	LoggedOut bool
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.sess.fromRequest(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	f := newForm(nil)
	f.Values.Set("next", r.URL.Query().Get("next"))
	c.renderLogin(w, r, http.StatusOK, f, r.URL.Query().Has("loggedout"))
}

// renderLogin shows the login form with a fresh pre-login CSRF secret,
// sent both as an HttpOnly cookie and as a hidden field (double submit).
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, f *form, loggedOut bool) {
	secret := randomID()
	setCookie(w, r, loginCookie, secret, 3600)
	f.Values.Set("csrf", secret)
	f.Values.Del("token") // never echo a token back into the page
	c.render(w, r, status, "login", &view{Title: "Log in", D: loginData{Form: f, LoggedOut: loggedOut}})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, c.maxBytes)
	if err := r.ParseForm(); err != nil {
		c.errorPage(w, r, nil, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	f := newForm(r.PostForm)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameSecret(ck.Value, r.PostFormValue("csrf")) {
		c.errorPage(w, r, nil, http.StatusForbidden, "Request refused",
			"The login form's security token (CSRF token) is missing or does not match this browser. Open the login page again (cookies must be enabled) and submit it from there.")
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if tok == "" {
		f.fail("token", "Paste your account token (from 'privlink account create', or <data-dir>/admin.token for the admin).")
		c.renderLogin(w, r, http.StatusBadRequest, f, false)
		return
	}
	who, err := client.InProcess(c.apiH, tok).WhoAmI(r.Context())
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			f.fail("token", "The token is not valid. Check that you pasted the whole token (it starts with plk_).")
			c.renderLogin(w, r, http.StatusUnauthorized, f, false)
			return
		}
		f.apiFail(err, nil)
		c.renderLogin(w, r, http.StatusBadGateway, f, false)
		return
	}
	s := c.sess.create(tok, who.AccountID, who.Name, who.Admin)
	setCookie(w, r, sessionCookie, s.ID, 0)
	setCookie(w, r, loginCookie, "", -1)
	c.log.Info("console login", "accountId", who.AccountID)
	http.Redirect(w, r, safeNext(f.Get("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sess.drop(s.ID)
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/console/login?loggedout=1", http.StatusSeeOther)
}
