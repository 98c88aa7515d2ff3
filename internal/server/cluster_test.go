package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/pki"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.RunEtcdMember() // the members of testenv.StartEtcdCluster
	os.Exit(m.Run())
}

// TestThreeServersOneCluster: three `privlink server`s, each running an
// embedded etcd member of one cluster (--etcd-name, --etcd-initial-cluster;
// members 2 and 3 hold certificates issued from member 1's CA as `privlink
// pki issue` does), bootstrap one admin between them, and what is created
// through one API server is seen through the others.
func TestThreeServersOneCluster(t *testing.T) {
	type member struct {
		cfg server.Config
		srv *server.Server
	}
	ms := make([]*member, 3)
	var initial []string
	for i := range ms {
		host := fmt.Sprintf("127.0.0.%d", i+1)
		cfg := server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Network: "loopback", AgentZones: []string{},
			NetnsPrefix:   testenv.RandomPrefix(),
			EtcdClientURL: fmt.Sprintf("https://%s:%d", host, testenv.FreePort(t)),
			EtcdPeerURL:   fmt.Sprintf("https://%s:%d", host, testenv.FreePort(t)),
			EtcdMember:    store.Member{Name: fmt.Sprintf("m%d", i+1)},
		}
		initial = append(initial, cfg.EtcdMember.Name+"="+cfg.EtcdPeerURL)
		if i == 0 {
			if _, err := pki.Ensure(store.PKIDir(cfg.DataDir), []string{host}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := pki.Issue(store.PKIDir(ms[0].cfg.DataDir), store.PKIDir(cfg.DataDir), []string{host}); err != nil {
			t.Fatal(err)
		}
		ms[i] = &member{cfg: cfg}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for i, m := range ms {
		m.cfg.EtcdMember.InitialCluster = strings.Join(initial, ",")
		wg.Add(1)
		go func() { // a member is ready only once a quorum is up: start them together
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			m.srv, errs[i] = server.Start(ctx, m.cfg)
		}()
	}
	wg.Wait()
	for i, m := range ms {
		if m.srv != nil {
			t.Cleanup(m.srv.Stop)
		}
		if errs[i] != nil {
			t.Fatalf("server %d: %v", i+1, errs[i])
		}
	}
	var clientURLs []string
	for _, m := range ms {
		clientURLs = append(clientURLs, m.cfg.EtcdClientURL)
	}
	slices.Sort(clientURLs)
	for i, m := range ms {
		eps, err := m.srv.Store.MemberEndpoints(bg)
		slices.Sort(eps)
		if err != nil || !slices.Equal(eps, clientURLs) {
			t.Errorf("server %d: member endpoints %v (%v), want %v", i+1, eps, err, clientURLs)
		}
	}
	var tokens []string
	for _, m := range ms {
		if b, err := os.ReadFile(filepath.Join(m.cfg.DataDir, "admin.token")); err == nil {
			tokens = append(tokens, strings.TrimSpace(string(b)))
		}
	}
	if len(tokens) != 1 {
		t.Fatalf("%d servers wrote an admin token, want exactly 1", len(tokens))
	}
	admin := func(i int) *client.Client { return client.New(ms[i].srv.URL(), tokens[0]) }
	for i := range ms {
		name := fmt.Sprintf("via-%d", i+1)
		if _, err := admin(i).CreateAccount(bg, api.CreateAccountRequest{Name: name}); err != nil {
			t.Fatalf("create through server %d: %v", i+1, err)
		}
		for j := range ms {
			accts, err := admin(j).ListAccounts(bg)
			if err != nil {
				t.Fatalf("list through server %d: %v", j+1, err)
			}
			found := false
			for _, a := range accts {
				found = found || a.Name == name
			}
			if !found {
				t.Errorf("account created through server %d not listed by server %d", i+1, j+1)
			}
		}
	}
}

// TestAPIRidesOutMemberLoss: an API server on a three-member cluster
// (separate processes, kill -9). One member killed: once the client has
// failed over, 0 failed API calls. Two killed (quorum lost): every call
// answers 503 ControlPlaneUnavailable within 5 s. Both back: calls succeed.
func TestAPIRidesOutMemberLoss(t *testing.T) {
	c := testenv.StartEtcdCluster(t, 3)
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}, DataDir: t.TempDir(), EtcdEndpoints: c.Endpoints()})
	n := 0
	call := func() (time.Duration, error) { // a write and a read
		n++
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		start := time.Now()
		_, err := e.Admin.CreateAccount(ctx, api.CreateAccountRequest{Name: fmt.Sprintf("a%d", n)})
		if err == nil {
			_, err = e.Admin.ListAccounts(ctx)
		}
		return time.Since(start), err
	}
	if _, err := call(); err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	c.Kill(t, 0)
	failedBefore := 0
	for {
		if _, err := call(); err == nil {
			break
		} else if time.Since(killed) > 20*time.Second {
			t.Fatalf("no successful call 20 s after one member of three was killed: %v", err)
		}
		failedBefore++
	}
	t.Logf("one member killed: %d failed calls, first success %v after the kill", failedBefore, time.Since(killed).Round(time.Millisecond))
	for i := range 30 {
		if _, err := call(); err != nil {
			t.Fatalf("call %d after failing over: %v", i, err)
		}
	}

	c.Kill(t, 1)
	for i := range 3 {
		took, err := call()
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Code != "ControlPlaneUnavailable" {
			t.Errorf("call %d without quorum: want 503 ControlPlaneUnavailable, got %v", i, err)
		}
		if took > 5*time.Second {
			t.Errorf("call %d without quorum: answered after %v, want within 5s", i, took)
		}
		t.Logf("without quorum: %v after %v", err, took.Round(time.Millisecond))
	}

	back := time.Now()
	c.Start(t, 0, 1)
	testenv.Eventually(t, "API calls after the members returned", func() error { _, err := call(); return err })
	t.Logf("quorum back: calls succeed %v after the restart began", time.Since(back).Round(time.Millisecond))
	for i := range 10 {
		if _, err := call(); err != nil {
			t.Fatalf("call %d after recovery: %v", i, err)
		}
	}
}

// TestAgentKeepsItsLeaseAcrossQuorumLoss: a standalone agent (`privlink
// agent`) on a three-member cluster; two members killed (-9) for twice the
// agent's lease TTL, then restarted: the agent's liveness key comes back
// under the same lease (no re-registration, so nothing placed on it moves),
// and the agent is ready throughout (static stability).
func TestAgentKeepsItsLeaseAcrossQuorumLoss(t *testing.T) {
	const zone, ttl = "cn-hangzhou-i", 3 * time.Second // the agent's default lease
	c := testenv.StartEtcdCluster(t, 3)
	cfg := server.Config{AgentOnly: true, AgentZones: []string{zone}, Network: "loopback", NetnsPrefix: testenv.RandomPrefix(),
		EtcdEndpoints: c.Endpoints(), EtcdCACert: c.Creds.CACert, EtcdCert: c.Creds.Cert, EtcdKey: c.Creds.Key}
	a, err := server.Start(bg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	st, err := store.Open(bg, store.Config{Endpoints: c.Endpoints(), Credentials: c.Creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	leaseOf := func() (int64, error) {
		ctx, cancel := context.WithTimeout(bg, 3*time.Second)
		defer cancel()
		return st.LeaseOf(ctx, st.AgentKey(zone))
	}
	var before int64
	testenv.Eventually(t, "the agent's key", func() (err error) { before, err = leaseOf(); return err })

	c.Kill(t, 0)
	c.Kill(t, 1)
	time.Sleep(2 * ttl)
	if !a.Ready() {
		t.Error("the agent is not ready during the quorum loss")
	}
	c.Start(t, 0, 1)
	var after int64
	testenv.Eventually(t, "the agent's key after the members returned", func() (err error) { after, err = leaseOf(); return err })
	if after != before {
		t.Fatalf("the agent's key is under lease %x after the outage, want its old lease %x", after, before)
	}
	time.Sleep(ttl) // and the old lease is kept alive again
	if now, err := leaseOf(); err != nil || now != before {
		t.Fatalf("a TTL later: lease %x, %v; want %x", now, err, before)
	}
}

// TestAPIRidesOutAFrozenMember: one member of three frozen (SIGSTOP: its
// sockets open and silent, as a hung machine or a cut without a reset).
// Calls routed to it fail until the client's keepalive drops it (10 s
// ping + 3 s timeout); from 15 s after the freeze on, 0 failed API calls.
func TestAPIRidesOutAFrozenMember(t *testing.T) {
	c := testenv.StartEtcdCluster(t, 3)
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}, DataDir: t.TempDir(), EtcdEndpoints: c.Endpoints()})
	n := 0
	call := func() error {
		n++
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := e.Admin.CreateAccount(ctx, api.CreateAccountRequest{Name: fmt.Sprintf("f%d", n)})
		if err == nil {
			_, err = e.Admin.ListAccounts(ctx)
		}
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	c.Freeze(t, 0)
	failed, lastFailure := 0, time.Duration(0)
	for time.Since(frozen) < 15*time.Second {
		if err := call(); err != nil {
			failed++
			lastFailure = time.Since(frozen)
		}
	}
	t.Logf("member frozen: %d failed calls, the last %v after the freeze", failed, lastFailure.Round(time.Millisecond))
	for i := range 30 {
		if err := call(); err != nil {
			t.Fatalf("call %d, %v after the freeze: %v", i, time.Since(frozen).Round(time.Millisecond), err)
		}
	}
	c.Thaw(t, 0)
}
