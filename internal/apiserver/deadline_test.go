package apiserver_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/testenv"
)

// TestStoreUnreachable runs a server on an external etcd (a first server's
// embedded one), stops that etcd and wants every kind of request answered
// 503 ControlPlaneUnavailable within 5 s.
func TestStoreUnreachable(t *testing.T) {
	first := startLoopback(t)
	_, acct, err := first.Admin.CreateAccountClient(bg, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	second := testenv.Start(t, testenv.Options{Network: "loopback", EtcdEndpoints: []string{first.EtcdURL()}})
	tenant := client.New(second.URL(), acct.Token)
	if _, err := tenant.WhoAmI(bg); err != nil {
		t.Fatalf("before the stop: %v", err)
	}
	first.Stop() // its embedded etcd with it
	calls := []struct {
		name string
		call func() error
	}{
		{"whoami", func() error { _, err := tenant.WhoAmI(bg); return err }},
		{"list", func() error { _, err := tenant.ListVPCs(bg); return err }},
		{"create", func() error {
			_, err := tenant.CreateVPC(bg, api.CreateVPCRequest{Name: "v", CidrBlock: "10.1.0.0/16"})
			return err
		}},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call()
		took := time.Since(start)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Code != "ControlPlaneUnavailable" {
			t.Errorf("%s: want 503 ControlPlaneUnavailable, got %v", c.name, err)
		}
		if took > 5*time.Second {
			t.Errorf("%s: answered after %v, want within 5s", c.name, took)
		}
		t.Logf("%s: %v after %v", c.name, err, took.Round(time.Millisecond))
	}
}
