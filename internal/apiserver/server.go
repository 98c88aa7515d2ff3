package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/notify"
	"github.com/privlink/privlink/internal/store"
)

// Config configures the API.
type Config struct {
	Store  *store.Store
	Naming model.Naming
	Zones  []string
	Logger *slog.Logger
	// Network and NetnsPrefix are reported by GET /v1/region.
	Network, NetnsPrefix string
	// RequestTimeout bounds every request's store calls (default 4s): with
	// etcd unreachable the API answers 503 ControlPlaneUnavailable by then.
	RequestTimeout time.Duration
	// AdminTokenFile is <data-dir>/admin.token: when the admin rotates its
	// own token through this server, the file, if it exists, is rewritten
	// with the new one.
	AdminTokenFile string
	// Webhooks is where webhook subscriptions may point (nil: the default,
	// public addresses only).
	Webhooks *notify.AllowList
}

// DefaultRequestTimeout is Config.RequestTimeout's default.
const DefaultRequestTimeout = 4 * time.Second

// API serves /v1.
type API struct {
	st     *store.Store
	naming model.Naming
	zones  []string
	log    *slog.Logger
	mux    *http.ServeMux

	network, netnsPrefix string
	timeout              time.Duration
	adminTokenFile       string
	adminRotate          sync.Mutex  // orders the admin's rotations with their file writes
	vpcLocks             stripedLock // orders this server's endpoint creates per VPC (vpclock.go)
	webhooks             *notify.AllowList
	streams              streams // open event streams per account
	hints                ipamHints
}

// New builds the API handler.
func New(cfg Config) *API {
	a := &API{st: cfg.Store, naming: cfg.Naming, zones: cfg.Zones, log: cfg.Logger, mux: http.NewServeMux(), network: cfg.Network, netnsPrefix: cfg.NetnsPrefix, timeout: cfg.RequestTimeout,
		adminTokenFile: cfg.AdminTokenFile, webhooks: cfg.Webhooks}
	if a.timeout <= 0 {
		a.timeout = DefaultRequestTimeout
	}
	for _, r := range a.routes() {
		a.mux.Handle(r.Method+" "+r.Path, a.handler(r))
	}
	a.mux.HandleFunc("GET /v1/openapi.json", a.serveOpenAPI)
	a.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, model.Errorf(http.StatusNotFound, "InvalidAction.NotFound", "no such API: %s %s", r.Method, r.URL.Path))
	})
	return a
}

// ServeHTTP implements http.Handler. Every answer gets a request ID, also
// one for a path that is no operation.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	rid := strings.ToUpper(hex.EncodeToString(b[:]))
	w.Header().Set("X-Request-Id", rid)
	a.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxRequestID, rid)))
}

type ctxKey int

const (
	ctxCaller ctxKey = iota
	ctxRequestID
)

// caller is the authenticated account.
type caller struct {
	AccountID string
	Admin     bool
}

func callerOf(r *http.Request) caller { return r.Context().Value(ctxCaller).(caller) }

func requestID(r *http.Request) string {
	if v, ok := r.Context().Value(ctxRequestID).(string); ok {
		return v
	}
	return ""
}

// handlerFunc answers one operation: the response body, or an error.
type handlerFunc func(r *http.Request) (any, error)

// body adapts a handler that takes the operation's request body, decoded
// strictly from JSON and checked by its Validate method, if it has one.
func body[Req any](f func(r *http.Request, req Req) (any, error)) handlerFunc {
	return func(r *http.Request) (any, error) {
		var req Req
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		if v, ok := any(req).(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return nil, err
			}
		}
		return f(r, req)
	}
}

func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
		defer cancel()
		r = r.WithContext(ctx)
		c, err := a.authenticate(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if rt.Admin && !c.Admin {
			writeError(w, r, model.Errorf(http.StatusForbidden, "Forbidden.AdminOnly", "only the admin token may call %s %s", r.Method, rt.Path))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxCaller, c))
		r.Body = http.MaxBytesReader(w, r.Body, api.MaxBodyBytes)
		out, err := rt.Handler(r)
		if err != nil {
			a.recordQuotaHit(r, c, err)
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// recordQuotaHit notes a quota refusal for the events (QuotaExceeded, at
// most one per account and code per store.QuotaHitTTL); best effort.
func (a *API) recordQuotaHit(r *http.Request, c caller, err error) {
	var e *model.Error
	if !errors.As(err, &e) || !strings.HasPrefix(e.Code, "QuotaExceeded.") {
		return
	}
	h := model.QuotaHit{AccountID: c.AccountID, Code: e.Code, Message: e.Message}
	if err := a.st.RecordQuotaHit(r.Context(), h); err != nil {
		slog.Debug("quota hit not recorded", "err", err, "accountId", c.AccountID, "code", e.Code)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *model.Error
	if !errors.As(err, &e) && store.NoSpace(err) {
		slog.Error("control plane store full: etcd NOSPACE alarm", "err", err, "method", r.Method, "path", r.URL.Path, "requestId", requestID(r))
		e = model.Errorf(http.StatusInsufficientStorage, "ControlPlaneFull",
			"the control plane's store is full (etcd NOSPACE alarm: database space exceeded); nothing was written. Reads and deletes still work. "+
				"Operator: compact and defragment etcd, then disarm the alarm (etcdctl compaction, defrag, alarm disarm), or raise --etcd-quota-bytes")
	}
	if e == nil && store.Unavailable(err) {
		slog.Warn("control plane unavailable", "err", err, "method", r.Method, "path", r.URL.Path, "requestId", requestID(r))
		e = model.Errorf(http.StatusServiceUnavailable, "ControlPlaneUnavailable", "the control plane's store did not answer in time; retry later")
	}
	if e == nil {
		slog.Error("internal error", "err", err, "method", r.Method, "path", r.URL.Path, "requestId", requestID(r))
		e = model.Errorf(http.StatusInternalServerError, "InternalError", "the request failed on the server; requestId %s", requestID(r))
	}
	writeJSON(w, e.Status, api.Error{Status: e.Status, Code: e.Code, Message: e.Message, RequestID: requestID(r)})
}

// decode reads a JSON body strictly into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return model.Errorf(http.StatusRequestEntityTooLarge, "InvalidParameter.BodyTooLarge", "request body exceeds %d bytes", api.MaxBodyBytes)
		case errors.Is(err, io.EOF):
			return model.Errorf(http.StatusBadRequest, "MissingParameter.Body", "a JSON request body is required")
		default:
			return model.Errorf(http.StatusBadRequest, "InvalidParameter.Body", "request body is not valid JSON for this API: %v", err)
		}
	}
	if dec.More() {
		return model.Errorf(http.StatusBadRequest, "InvalidParameter.Body", "request body has trailing data after the JSON object")
	}
	return nil
}

func dryRunOK(r *http.Request) any {
	return api.DryRunResult{Code: api.DryRunCode, Message: "Request validation has been passed with DryRun flag set.", RequestID: requestID(r)}
}

func internal(format string, args ...any) error { return fmt.Errorf(format, args...) }
