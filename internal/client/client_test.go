package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

var bg = context.Background()

// recorder serves every operation of api.Operations with an empty answer
// and records which ones were called.
type recorder struct {
	mu     sync.Mutex
	called map[string]bool
	mux    *http.ServeMux
}

func newRecorder() *recorder {
	rec := &recorder{called: map[string]bool{}, mux: http.NewServeMux()}
	for _, op := range api.Operations {
		rec.mux.HandleFunc(op.Method+" "+op.Path, func(w http.ResponseWriter, r *http.Request) {
			rec.mu.Lock()
			rec.called[op.ID] = true
			rec.mu.Unlock()
			body := "{}"
			if strings.HasPrefix(reflect.TypeOf(op.Response).Name(), "List[") {
				body = `{"items":[],"totalCount":0}`
			}
			w.Write([]byte(body))
		})
	}
	return rec
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

// TestEveryOperationHasAMethod calls every method of the client that maps to
// one API call, and wants each operation of the table called exactly by them.
func TestEveryOperationHasAMethod(t *testing.T) {
	helpers := map[string]bool{"Do": true, "CreateAccountClient": true, "WaitEndpoint": true, "WaitEndpointActive": true, "FollowEvents": true}
	rec := newRecorder()
	c := client.InProcess(rec, "tok")
	v := reflect.ValueOf(c)
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	for i := 0; i < v.NumMethod(); i++ {
		m, name := v.Method(i), v.Type().Method(i).Name
		mt := m.Type()
		if helpers[name] || mt.NumIn() == 0 || mt.In(0) != ctxType {
			continue
		}
		args := []reflect.Value{reflect.ValueOf(bg)}
		for j := 1; j < mt.NumIn(); j++ {
			a := reflect.New(mt.In(j)).Elem()
			if a.Kind() == reflect.String {
				a.SetString("x-" + name)
			}
			args = append(args, a)
		}
		out := m.Call(args)
		if err, _ := out[len(out)-1].Interface().(error); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, op := range api.Operations {
		if !rec.called[op.ID] {
			t.Errorf("no client method calls %s (%s %s)", op.ID, op.Method, op.Path)
		}
	}
}

func TestListFetchesEveryPage(t *testing.T) {
	var queries []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		page := map[string]api.List[api.VSwitch]{
			"":   {Items: []api.VSwitch{{VSwitchID: "vsw-1"}, {VSwitchID: "vsw-2"}}, NextToken: "p2", TotalCount: 3},
			"p2": {Items: []api.VSwitch{{VSwitchID: "vsw-3"}}, TotalCount: 3},
		}[r.URL.Query().Get("nextToken")]
		json.NewEncoder(w).Encode(page)
	})
	got, err := client.InProcess(h, "tok").ListVSwitches(bg, client.Filter{VpcID: "vpc-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[2].VSwitchID != "vsw-3" {
		t.Errorf("items %+v", got)
	}
	want := []string{"maxResults=100&vpcId=vpc-a", "maxResults=100&nextToken=p2&vpcId=vpc-a"}
	if !reflect.DeepEqual(queries, want) {
		t.Errorf("queries %q, want %q", queries, want)
	}
}

func TestAnswers(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		check  func(t *testing.T, v api.VPC, err error)
	}{
		{"resource", 200, `{"vpcId":"vpc-1","cidrBlock":"10.0.0.0/16"}`, func(t *testing.T, v api.VPC, err error) {
			if err != nil || v.VpcID != "vpc-1" {
				t.Errorf("got %+v, %v", v, err)
			}
		}},
		{"api error", 404, `{"code":"VpcNotFound","message":"no","requestId":"R1"}`, func(t *testing.T, _ api.VPC, err error) {
			var e *api.Error
			if !errors.As(err, &e) || e.Status != 404 || e.Code != "VpcNotFound" || e.RequestID != "R1" || !client.IsNotFound(err) {
				t.Errorf("got %#v", err)
			}
		}},
		{"not an error body", 502, "bad gateway\n", func(t *testing.T, _ api.VPC, err error) {
			var e *api.Error
			if !errors.As(err, &e) || e.Code != "HTTP502" || e.Message != "bad gateway" {
				t.Errorf("got %#v", err)
			}
		}},
		{"dry run", 200, `{"code":"DryRunOperation","message":"ok","requestId":"R2"}`, func(t *testing.T, v api.VPC, err error) {
			var d *api.DryRunResult
			if !errors.As(err, &d) || d.RequestID != "R2" || v.VpcID != "" {
				t.Errorf("got %+v, %#v", v, err)
			}
		}},
		{"not JSON", 200, `<html>`, func(t *testing.T, _ api.VPC, err error) {
			if err == nil || !strings.Contains(err.Error(), "decode response") {
				t.Errorf("got %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("headers %v", r.Header)
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			// The same answers over HTTP and in-process.
			srv := httptest.NewServer(h)
			defer srv.Close()
			for _, c := range []*client.Client{client.New(srv.URL, "tok"), client.InProcess(h, "tok")} {
				v, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
				tc.check(t, v, err)
			}
		})
	}
}

func TestWaitEndpoint(t *testing.T) {
	var n int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		status := model.StatusCreating
		if n >= 3 && r.PathValue("id") != "ep-never" {
			status = model.StatusActive
		}
		json.NewEncoder(w).Encode(api.Endpoint{EndpointID: "ep-1", EndpointStatus: status})
	})
	mux := http.NewServeMux()
	mux.Handle("GET /v1/endpoints/{id}", h)
	c := client.InProcess(mux, "tok")
	c.PollInterval = time.Millisecond
	var seen []string
	ep, err := c.WaitEndpointActive(bg, "ep-1", func(ep api.Endpoint) { seen = append(seen, ep.EndpointStatus) })
	if err != nil || ep.EndpointStatus != model.StatusActive || len(seen) != 3 {
		t.Errorf("got %+v, %v after %v", ep, err, seen)
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	ep, err = c.WaitEndpointActive(ctx, "ep-never", nil)
	if !errors.Is(err, context.DeadlineExceeded) || ep.EndpointStatus != model.StatusCreating {
		t.Errorf("timeout: got %+v, %v", ep, err)
	}
}

func TestWithToken(t *testing.T) {
	var got []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		w.Write([]byte(`{"accountId":"1","token":"plk_new"}`))
	})
	admin := client.InProcess(h, "plk_admin")
	c, a, err := admin.CreateAccountClient(bg, "x")
	if err != nil || c.Token() != "plk_new" || a.AccountID != "1" || admin.Token() != "plk_admin" {
		t.Fatalf("got %v %+v %v", c, a, err)
	}
	if _, err := c.WhoAmI(bg); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Bearer plk_admin", "Bearer plk_new"}; !reflect.DeepEqual(got, want) {
		t.Errorf("authorization %q, want %q", got, want)
	}
}
