package apiserver_test

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/testenv"
)

// Kinds of the model, in teardown order.
const (
	kEndpoint = "ep"
	kService  = "svc"
	kHost     = "host"
	kSG       = "sg"
	kVSwitch  = "vsw"
	kVPC      = "vpc"
)

var teardownOrder = []string{kEndpoint, kService, kHost, kSG, kVSwitch, kVPC}

// world is the fuzzer's model of what exists, built only from successful
// answers: the store must agree with it.
type world struct {
	t      *testing.T
	e      *testenv.Env
	tag    string
	actors []*actor
	res    map[string]*resource
	order  []string // IDs in creation order
	zones  []string
	log    []string
}

type actor struct {
	id string
	c  *client.Client
}

// resource is one created resource as the model knows it.
type resource struct {
	kind, id, owner string
	alive           bool
	vpc, vsw, zone  string // parents (vsw, zone: hosts)
	cidr            string // VPCs and vSwitches
	ip              string // hosts
	name            string // services
	allowed         []string
	svc             string // endpoints
}

func newWorld(t *testing.T, e *testenv.Env, tag string) *world {
	w := &world{t: t, e: e, tag: tag, res: map[string]*resource{}, zones: e.Config().Zones}
	for i := 0; i < 3; i++ {
		c, a, err := e.Admin.CreateAccountClient(bg, fmt.Sprintf("fz-%s-%d", tag, i))
		if err != nil {
			t.Fatalf("create account: %v", err)
		}
		// In-process: the same handler as over HTTP, without sockets.
		w.actors = append(w.actors, &actor{id: a.AccountID, c: client.InProcess(e.API, c.Token())})
	}
	return w
}

func (w *world) journal() string { return strings.Join(w.log, "\n") }

func (w *world) add(r *resource) {
	if _, dup := w.res[r.id]; dup {
		w.t.Errorf("%s %s: an ID handed out twice", r.kind, r.id)
	}
	r.alive = true
	w.res[r.id] = r
	w.order = append(w.order, r.id)
}

// get returns the model's resource id of kind (nil for garbage and other kinds).
func (w *world) get(kind, id string) *resource {
	if r := w.res[id]; r != nil && r.kind == kind {
		return r
	}
	return nil
}

// owns reports whether a is the owner of the live resource id of kind.
func (w *world) owns(a *actor, kind, id string) bool {
	r := w.get(kind, id)
	return r != nil && r.alive && r.owner == a.id
}

// admits reports whether the live service id admits account a.
func (w *world) admits(a string, id string) bool {
	r := w.get(kService, id)
	return r != nil && r.alive && (r.owner == a || slices.Contains(r.allowed, a))
}

// knownCode matches the error codes the API answers: families of
// Alibaba-style codes and <Kind>NotFound.
var knownCode = regexp.MustCompile(`^((InvalidParameter|MissingParameter|QuotaExceeded|DependencyViolation|OperationDenied|Forbidden|InvalidToken|Conflict|InvalidZoneId|InvalidIpAddress|IncorrectStatus|InvalidAction)(\.[A-Za-z]+)+|[A-Za-z]+NotFound|InvalidToken|IdempotentParameterMismatch)$`)

// answer checks the answer to operation op: nil, or an *api.Error with a
// status the operation declares (never 5xx), a known code, a message and
// a request ID. It returns whether the call succeeded.
func (w *world) answer(a *actor, op, what string, err error) bool {
	w.t.Helper()
	who := "?"
	for i, x := range w.actors {
		if x == a {
			who = fmt.Sprint(i)
		}
	}
	line := fmt.Sprintf("acct%s %s %s", who, op, what)
	if err == nil {
		w.log = append(w.log, line+" -> ok")
		return true
	}
	w.log = append(w.log, line+" -> "+err.Error())
	if isDry(err) {
		return false // a dry run that passed: the caller checks it like a success
	}
	var ae *api.Error
	if !errors.As(err, &ae) {
		w.t.Errorf("%s: not an API error answer: %v", line, err)
		return false
	}
	o, _ := api.Lookup(op)
	switch {
	case ae.Status >= 500:
		w.t.Errorf("%s: HTTP %d: %v", line, ae.Status, err)
	case !slices.Contains(o.Errors, ae.Status) && ae.Status != http.StatusUnauthorized:
		w.t.Errorf("%s: HTTP %d is not among the statuses %s declares (%v): %v", line, ae.Status, op, o.Errors, err)
	case !knownCode.MatchString(ae.Code) || ae.Message == "" || ae.RequestID == "":
		w.t.Errorf("%s: bad error body: code %q message %q requestId %q", line, ae.Code, ae.Message, ae.RequestID)
	}
	return false
}

// isDry reports whether err is the answer to a dry run that passed.
func isDry(err error) bool {
	var d *api.DryRunResult
	return errors.As(err, &d)
}

// addOrReplay adds a created resource, or accepts the resource a request
// with a clientToken already created: it must be the caller's, and live.
func (w *world) addOrReplay(r *resource) {
	w.t.Helper()
	old := w.res[r.id]
	switch {
	case old == nil:
		w.add(r)
	case old.owner != r.owner:
		w.leak("%s's clientToken replay answered %s %s of account %s", r.owner, old.kind, r.id, old.owner)
	case !old.alive:
		w.t.Errorf("a clientToken replay answered the deleted %s %s", old.kind, r.id)
	}
}

// createOpts draws a create's clientToken (shared by all accounts, so
// replays and collisions happen) and dryRun.
func createOpts(s *byteSource) (token string, dry bool) {
	switch b := s.next(); b % 8 {
	case 0:
		return "", true
	case 1, 2:
		return fmt.Sprintf("tok-%d", b%2), false
	}
	return "", false
}

// leak reports a successful call that used what its caller may not.
func (w *world) leak(format string, args ...any) {
	w.t.Helper()
	w.t.Errorf("cross-account: "+format, args...)
}

// visible reports whether account a may see resource r (GET succeeds).
func (w *world) visible(a *actor, r *resource) bool {
	if !r.alive {
		return false
	}
	if r.kind == kService {
		return w.admits(a.id, r.id)
	}
	return r.owner == a.id
}

// alive lists the model's live resources of kind owned by a.
func (w *world) alive(kind string, a *actor) []string {
	var out []string
	for _, id := range w.order {
		if r := w.res[id]; r.kind == kind && r.alive && r.owner == a.id {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
