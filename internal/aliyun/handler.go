package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// API versions served.
const (
	VersionPrivateLink = "2020-04-15"
	VersionVPC         = "2016-04-28"
	VersionECS         = "2014-05-26"
)

// Authority is what the handler needs of the REST API server
// (*apiserver.API, passed in by internal/server): the secrets of access
// keys, the accounts of bearer tokens, and its handler acting as an
// account this front end authenticated.
type Authority interface {
	LookupAccessKey(ctx context.Context, id string) (accountID string, admin bool, secret string, err error)
	TokenAccount(ctx context.Context, token string) (accountID string, admin bool, err error)
	AsCaller(accountID string, admin bool) http.Handler
}

// Config configures the handler.
type Config struct {
	API    Authority // executes every action, as the caller
	Region string
	Zones  []string
	Logger *slog.Logger
	// Now is the clock for timestamps (default time.Now).
	Now func() time.Time
}

// Handler serves the RPC API.
type Handler struct {
	cfg     Config
	nonces  *nonceCache
	actions map[string]action
}

// action answers one Version+Action: a response with a Base, or an error.
type action func(c *call) (response, error)

// deleteBy is a Delete* action on the resource whose ID is in param: with
// DryRun it only checks that the caller may see it (DryRunOperation, or
// the lookup's error), otherwise it deletes it.
func deleteBy[T, U any](param string, get func(*client.Client, context.Context, string) (T, error),
	del func(*client.Client, context.Context, string) (U, error)) action {
	return func(c *call) (response, error) {
		id, err := c.p.required(param)
		if err != nil {
			return nil, err
		}
		if done, err := dryRun(c, func(ctx context.Context, id string) (T, error) { return get(c.c, ctx, id) }, id); done {
			return nil, err
		}
		if _, err := del(c.c, c.ctx, id); err != nil {
			return nil, err
		}
		return &Base{}, nil
	}
}

// dryRun answers a request's DryRun: done is true when it was one, and
// err is then DryRunOperation if the caller may see the resource id (get
// succeeds), get's error otherwise. A malformed DryRun is done too.
func dryRun[T any](c *call, get func(context.Context, string) (T, error), id string) (done bool, err error) {
	dry, err := c.p.boolean("DryRun")
	if err != nil || !dry {
		return err != nil, err
	}
	if _, err := get(c.ctx, id); err != nil {
		return true, err
	}
	return true, &api.DryRunResult{Code: api.DryRunCode}
}

// response is an answer body; the handler sets its RequestId.
type response interface{ setRequestID(string) }

// Base is the part of every answer the handler fills in.
type Base struct {
	RequestId string `json:"RequestId"`
}

func (b *Base) setRequestID(id string) { b.RequestId = id }

// call is one request being served.
type call struct {
	ctx     context.Context
	p       params
	id      identity
	c       *client.Client // the REST API in-process, as the caller
	h       *Handler
	version string
	host    string // the Host the request came to
}

// New builds the handler.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Handler{cfg: cfg, nonces: newNonceCache(), actions: map[string]action{}}
	for version, acts := range map[string]map[string]action{
		VersionPrivateLink: privateLinkActions(),
		VersionVPC:         vpcActions(),
		VersionECS:         ecsActions(),
	} {
		for name, a := range acts {
			h.actions[version+"/"+name] = a
		}
	}
	return h
}

func (h *Handler) now() time.Time { return h.cfg.Now() }

// Actions lists the Version/Action pairs the handler knows (served or
// answered OperationUnsupported), for tests and docs.
func (h *Handler) Actions() []string {
	out := make([]string, 0, len(h.actions))
	for k := range h.actions {
		out = append(out, k)
	}
	return out
}

// ServeHTTP implements http.Handler. Request URLs are never logged: a
// bearer token may be in them.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := strings.ToUpper(uuid.NewString())
	r.Body = http.MaxBytesReader(w, r.Body, api.MaxBodyBytes)
	p, err := parseParams(r)
	if err != nil {
		h.writeError(w, r, rid, "", "", err)
		return
	}
	version, name := p.str("Version"), p.str("Action")
	act, ok := h.actions[version+"/"+name]
	if !ok {
		h.writeError(w, r, rid, version, name, unknownAction(version, name))
		return
	}
	if f := p.str("Format"); f != "" && !strings.EqualFold(f, "JSON") {
		h.writeError(w, r, rid, version, name, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "Format %s is not supported: privlink answers JSON only (Format=JSON)", f))
		return
	}
	ctx := r.Context()
	id, err := h.authenticate(ctx, r.Method, p)
	if err != nil {
		h.writeError(w, r, rid, version, name, err)
		return
	}
	c := &call{ctx: ctx, p: p, id: id, h: h, version: version, host: r.Host,
		c: client.InProcess(h.cfg.API.AsCaller(id.AccountID, id.Admin), "")}
	out, err := act(c)
	if err != nil {
		h.writeError(w, r, rid, version, name, err)
		return
	}
	out.setRequestID(rid)
	h.cfg.Logger.Debug("rpc", "action", name, "version", version, "account", id.AccountID, "requestId", rid)
	writeJSON(w, http.StatusOK, out)
}

func unknownAction(version, name string) error {
	switch {
	case name == "":
		return model.Errorf(http.StatusBadRequest, "MissingParameter", "the parameter Action is required")
	case version == "":
		return model.Errorf(http.StatusBadRequest, "MissingParameter", "the parameter Version is required")
	case version != VersionPrivateLink && version != VersionVPC && version != VersionECS:
		return model.Errorf(http.StatusBadRequest, "InvalidVersion", "Specified parameter Version %q is not valid; privlink serves %s (PrivateLink), %s (VPC) and %s (ECS)", version, VersionPrivateLink, VersionVPC, VersionECS)
	}
	return model.Errorf(http.StatusNotFound, "InvalidAction.NotFound", "Specified api %s is not found in version %s of privlink's Alibaba Cloud API (docs/alibaba-api.md lists what is served)", name, version)
}

// errorBody is Alibaba's error body.
type errorBody struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	RequestId string `json:"RequestId"`
	HostId    string `json:"HostId"`
	Recommend string `json:"Recommend"`
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, rid, version, name string, err error) {
	e := h.toError(version, err)
	if e.Status >= 500 {
		h.cfg.Logger.Error("rpc failed", "action", name, "version", version, "code", e.Code, "err", err, "requestId", rid)
	} else {
		h.cfg.Logger.Debug("rpc refused", "action", name, "version", version, "code", e.Code, "requestId", rid)
	}
	host := r.Host
	if host == "" {
		host = "privlink"
	}
	writeJSON(w, e.Status, errorBody{Code: e.Code, Message: e.Message, RequestId: rid, HostId: host,
		Recommend: "https://github.com/privlink/privlink/blob/main/docs/alibaba-api.md"})
}

// notFoundCodes rename the REST API's <Kind>NotFound codes per product as
// Alibaba names them.
var notFoundCodes = map[string]map[string]string{
	VersionVPC: {"VpcNotFound": "InvalidVpcId.NotFound", "VSwitchNotFound": "InvalidVSwitchId.NotFound"},
	VersionECS: {"VpcNotFound": "InvalidVpcId.NotFound", "SecurityGroupNotFound": "InvalidSecurityGroupId.NotFound", "VSwitchNotFound": "InvalidVSwitchId.NotFound"},
}

// toError turns any failure into the error answered: the REST API's
// errors keep their code (renamed per product) and message; NotFound
// becomes 400 as Alibaba answers it; a passed dry run is 400
// DryRunOperation.
func (h *Handler) toError(version string, err error) *model.Error {
	var me *model.Error
	var ae *api.Error
	var dry *api.DryRunResult
	switch {
	case errors.As(err, &me):
		return me
	case errors.As(err, &dry):
		return model.Errorf(http.StatusBadRequest, "DryRunOperation", "Request validation has been passed with DryRun flag set.")
	case errors.As(err, &ae):
		code, status := ae.Code, ae.Status
		if c, ok := notFoundCodes[version][code]; ok {
			code = c
		}
		if status == http.StatusNotFound {
			status = http.StatusBadRequest
		}
		if status == http.StatusUnauthorized {
			status = http.StatusBadRequest
		}
		return &model.Error{Status: status, Code: code, Message: ae.Message}
	case store.Unavailable(err):
		return model.Errorf(http.StatusServiceUnavailable, "ControlPlaneUnavailable", "the control plane's store did not answer in time; retry later")
	}
	return model.Errorf(http.StatusInternalServerError, "InternalError", "The request processing has failed due to some unknown error.")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// unsupported is the answer of an action privlink does not serve.
func unsupported(why string) action {
	return func(*call) (response, error) {
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "%s", why)
	}
}

// endpoint reads the endpoint the required EndpointId names.
func (c *call) endpoint() (api.Endpoint, error) {
	id, err := c.p.required("EndpointId")
	if err != nil {
		return api.Endpoint{}, err
	}
	return c.c.GetEndpoint(c.ctx, id)
}

// service reads the service the required ServiceId names.
func (c *call) service() (api.EndpointService, error) {
	id, err := c.p.required("ServiceId")
	if err != nil {
		return api.EndpointService{}, err
	}
	return c.c.GetService(c.ctx, id)
}
