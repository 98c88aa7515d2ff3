package aliyun_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/privlink/privlink/internal/testenv"
)

const region = "cn-hangzhou"

// clients are the official SDK's three clients as one account, pointed at
// a privlink server by Domain only.
type clients struct {
	PL  *privatelink.Client
	VPC *vpc.Client
	ECS *ecs.Client
	rec *recorder
}

// recorder keeps the last request the SDK sent (to replay it).
type recorder struct {
	mu   sync.Mutex
	last *http.Request
	body []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.last, r.body = req.Clone(req.Context()), body
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// replay sends the last request again, byte for byte.
func (r *recorder) replay(t *testing.T) *http.Response {
	t.Helper()
	r.mu.Lock()
	req, body := r.last, r.body
	r.mu.Unlock()
	again, err := http.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	again.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(again)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func sdkConfig() *sdk.Config {
	c := sdk.NewConfig()
	c.AutoRetry = false
	return c
}

// newClients builds the SDK clients with a credential against e.
func newClients(t testing.TB, e *testenv.Env, cred auth.Credential) *clients {
	t.Helper()
	domain := strings.TrimPrefix(e.URL(), "http://")
	rec := &recorder{}
	pl, err := privatelink.NewClientWithOptions(region, sdkConfig(), cred)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vpc.NewClientWithOptions(region, sdkConfig(), cred)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecs.NewClientWithOptions(region, sdkConfig(), cred)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*sdk.Client{&pl.Client, &v.Client, &ec.Client} {
		c.Domain = domain
		c.SetTransport(rec)
	}
	return &clients{PL: pl, VPC: v, ECS: ec, rec: rec}
}

// akClients are SDK clients signing with an AccessKey pair.
func akClients(t testing.TB, e *testenv.Env, id, secret string) *clients {
	return newClients(t, e, credentials.NewAccessKeyCredential(id, secret))
}

// strict decodes the raw body of resp into a fresh value of the SDK's
// response type with encoding/json, unknown fields refused: a field with
// another JSON type or a misspelt name fails the test. It also wants a
// RequestId.
func strict[T any](t *testing.T, what string, resp interface {
	GetHttpContentString() string
}) {
	t.Helper()
	body := resp.GetHttpContentString()
	var v T
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: the body does not decode strictly into the SDK's %T: %v\n%s", what, v, err, body)
	}
	var base struct{ RequestId string }
	if json.Unmarshal([]byte(body), &base) != nil || base.RequestId == "" {
		t.Fatalf("%s: no RequestId in %s", what, body)
	}
}

// must fails the test on an SDK error, showing its code.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// serverError returns err as the SDK's server error, or fails.
func serverError(t *testing.T, what string, err error) *sdkerrors.ServerError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("%s: want a server error, got %v", what, err)
	}
	if se.RequestId() == "" {
		t.Errorf("%s: error %s has no RequestId", what, se.ErrorCode())
	}
	return se
}

// wantCode wants an SDK server error with code and HTTP status.
func wantCode(t *testing.T, what string, err error, code string, status int) *sdkerrors.ServerError {
	t.Helper()
	se := serverError(t, what, err)
	if se.ErrorCode() != code || se.HttpStatus() != status {
		t.Fatalf("%s: got %s (HTTP %d): %s; want %s (HTTP %d)", what, se.ErrorCode(), se.HttpStatus(), se.Message(), code, status)
	}
	return se
}

var _ responses.AcsResponse = (*privatelink.DescribeRegionsResponse)(nil)

// strictBody is strict for a raw body into T (actions the typed SDK lacks).
func strictBody[T any](t *testing.T, what, body string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: the body does not decode strictly into %T: %v\n%s", what, v, err, body)
	}
	return v
}
