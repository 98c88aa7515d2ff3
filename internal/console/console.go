package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Console is the web console handler.
type Console struct {
	apiH     http.Handler
	sess     *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
	staticV  string // content hash appended to asset URLs for cache busting
	log      *slog.Logger
	maxBytes int64
}

// New returns the console calling the REST API handler apiH in-process;
// `privlink server` mounts it at /console/.
func New(apiH http.Handler) http.Handler {
	c, err := newConsole(apiH)
	if err != nil {
		panic("console: " + err.Error()) // embedded templates are fixed at build time
	}
	return c
}

func newConsole(apiH http.Handler) (*Console, error) {
	c := &Console{apiH: apiH, sess: newSessions(), pages: map[string]*template.Template{},
		mux: http.NewServeMux(), log: slog.Default().With("component", "console"), maxBytes: 64 << 10}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			h.Write(b)
		}
		return nil
	})
	c.staticV = hex.EncodeToString(h.Sum(nil))[:12]
	c.routes()
	return c, nil
}

func (c *Console) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "partials.html" || base == "live.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/live.html", n)
		if err != nil {
			return fmt.Errorf("parse %s: %w", n, err)
		}
		c.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return nil
}

func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.StripPrefix("/console/static/", http.FileServerFS(static))
	m.Handle("GET /console/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fileServer.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET /console/{$}", c.home)
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.action(c.logout))

	m.HandleFunc("GET /console/services", c.page(c.servicesList))
	m.HandleFunc("GET /console/services/new", c.page(c.serviceNew))
	m.HandleFunc("POST /console/services", c.action(c.serviceCreate))
	m.HandleFunc("GET /console/services/{id}", c.page(c.serviceShow))
	m.HandleFunc("POST /console/services/{id}/allowed-accounts", c.action(c.serviceAllow))
	m.HandleFunc("POST /console/services/{id}/allowed-accounts/{account}/remove", c.action(c.serviceDisallow))
	m.HandleFunc("POST /console/services/{id}/connections/{endpoint}/{verb}", c.action(c.serviceConnection))
	m.HandleFunc("POST /console/services/{id}/delete", c.action(c.serviceDelete))
	m.HandleFunc("GET /console/services/{id}/live", c.page(c.serviceLiveFragment))

	m.HandleFunc("GET /console/vpcs", c.page(c.vpcsList))
	m.HandleFunc("POST /console/vpcs", c.action(c.vpcCreate))
	m.HandleFunc("GET /console/vpcs/{id}", c.page(c.vpcShow))
	m.HandleFunc("POST /console/vpcs/{id}/vswitches", c.action(c.vswitchCreate))

	m.HandleFunc("GET /console/security-groups", c.page(c.sgList))
	m.HandleFunc("POST /console/security-groups", c.action(c.sgCreate))
	m.HandleFunc("GET /console/security-groups/{id}", c.page(c.sgShow))
	m.HandleFunc("POST /console/security-groups/{id}/rules", c.action(c.sgAuthorize))
	m.HandleFunc("POST /console/security-groups/{id}/rules/revoke", c.action(c.sgRevoke))

	m.HandleFunc("GET /console/endpoints", c.page(c.endpointsList))
	m.HandleFunc("GET /console/endpoints/new", c.page(c.endpointNew))
	m.HandleFunc("POST /console/endpoints", c.action(c.endpointCreate))
	m.HandleFunc("GET /console/endpoints/{id}", c.page(c.endpointShow))
	m.HandleFunc("GET /console/endpoints/{id}/status.json", c.page(c.endpointStatusJSON))
	m.HandleFunc("POST /console/endpoints/{id}/delete", c.action(c.endpointDelete))
	m.HandleFunc("GET /console/endpoints/{id}/live", c.page(c.endpointLiveFragment))

	m.HandleFunc("GET /console/access-keys", c.page(c.accessKeysList))
	m.HandleFunc("POST /console/access-keys", c.action(c.accessKeyCreate))
	m.HandleFunc("POST /console/access-keys/{id}/delete", c.action(c.accessKeyDelete))

	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, c.sess.fromRequest(r), http.StatusNotFound, "Page not found", "There is no console page at "+r.URL.Path+".")
	})
}

// ServeHTTP sets the security headers every console response carries.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	c.mux.ServeHTTP(w, r)
}

// handler is a console handler for a logged-in session.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// page requires a session; without one the browser goes to the login page
// and comes back afterwards.
func (c *Console) page(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.sess.fromRequest(r)
		if s == nil {
			if strings.HasSuffix(r.URL.Path, ".json") {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "SessionExpired", "message": "log in again"})
				return
			}
			http.Redirect(w, r, "/console/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

// action guards a state-changing POST: it needs a session and the session's
// CSRF token in the form; anything else is refused with 403.
func (c *Console) action(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, c.maxBytes)
		if err := r.ParseForm(); err != nil {
			c.errorPage(w, r, nil, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
			return
		}
		s := c.sess.fromRequest(r)
		if s == nil {
			c.errorPage(w, r, nil, http.StatusForbidden, "Session expired",
				"You are not logged in (or your session ended), so the form was not submitted. Log in and try again.")
			return
		}
		if !checkCSRF(r, s) {
			c.log.Warn("CSRF token mismatch", "path", r.URL.Path, "accountId", s.AccountID)
			c.errorPage(w, r, s, http.StatusForbidden, "Request refused",
				"The form's security token (CSRF token) is missing or does not match your session, so nothing was changed. Reload the page and submit the form again.")
			return
		}
		h(w, r, s)
	}
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if c.sess.fromRequest(r) == nil {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/console/services", http.StatusSeeOther)
}

// api returns a client acting as the session's account. It calls the API
// handler in-process: no socket, no second authentication path; the API
// authorizes every call exactly as it would a CLI request.
func (c *Console) api(s *session) *client.Client { return client.InProcess(c.apiH, s.Token) }

// view is what every page template gets.
type view struct {
	Title  string
	Nav    string
	S      *session
	Flash  *flash
	Static string
	D      any
}

// render executes page name into a buffer, then writes it with status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t := c.pages[name]
	if t == nil {
		http.Error(w, "console: no template "+name, http.StatusInternalServerError)
		return
	}
	v.Static = c.staticV
	if v.S != nil && v.Flash == nil {
		v.Flash = c.sess.takeFlash(v.S)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("render", "page", name, "err", err)
		http.Error(w, "console: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Heading, Message string
	LoginLink        bool
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, s *session, status int, heading, msg string) {
	c.render(w, r, status, "error", &view{Title: heading, S: s, D: errorData{Heading: heading, Message: msg, LoginLink: s == nil}})
}

// fail shows an API error as a page; an invalid token ends the session.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var ae *api.Error
	if errors.As(err, &ae) {
		if ae.Status == http.StatusUnauthorized {
			c.sess.drop(s.ID)
			setCookie(w, r, sessionCookie, "", -1)
			c.errorPage(w, r, nil, http.StatusUnauthorized, "Logged out", "Your token is no longer valid ("+ae.Message+"). Log in again.")
			return
		}
		heading := "Request failed"
		if ae.Status == http.StatusNotFound {
			heading = "Not found"
		}
		c.errorPage(w, r, s, ae.Status, heading, ae.Message+" ("+ae.Code+")")
		return
	}
	c.log.Error("console request", "path", r.URL.Path, "err", err)
	c.errorPage(w, r, s, http.StatusInternalServerError, "Something went wrong", err.Error())
}

// redirect sends the browser to url after a POST, with a flash message.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, s *session, url, msg string, bad bool) {
	if msg != "" {
		c.sess.setFlash(s, &flash{Text: msg, Error: bad})
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}
