package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/pki"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.RunEtcdMember()
	os.Exit(m.Run())
}

// open connects a store client to the given endpoints of c.
func open(t *testing.T, c *testenv.EtcdCluster, endpoints ...string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := store.Open(ctx, store.Config{Endpoints: endpoints, Credentials: c.Creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestClusterReplicates: three embedded members (separate processes,
// certificates of members 2 and 3 issued from member 1's CA): a write
// through any member is read through each of the others.
func TestClusterReplicates(t *testing.T) {
	c := testenv.StartEtcdCluster(t, 3)
	eps := c.Endpoints()
	clients := []*store.Store{open(t, c, eps[0]), open(t, c, eps[1]), open(t, c, eps[2])}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, w := range clients {
		key := w.Prefix() + "test/from-" + eps[i]
		if err := w.PutRaw(ctx, key, eps[i]); err != nil {
			t.Fatal(err)
		}
		for j, r := range clients {
			d, err := r.Dump(ctx) // linearizable read: sees every committed write
			if err != nil || d[key] != eps[i] {
				t.Errorf("written via member %d, read via member %d: %q %v", i+1, j+1, d[key], err)
			}
		}
	}
}

// TestClusterPeerPortRefusesClientCertificate: a member's peer listener
// serves members (server certificates, CN "privlink etcd") but refuses the
// client certificate agents and API servers hold, so that an agent's
// machine cannot speak raft; the client port accepts it.
func TestClusterPeerPortRefusesClientCertificate(t *testing.T) {
	c := testenv.StartEtcdCluster(t, 1)
	set := pki.Paths(c.PKIDir(0))
	get := func(url, cert, key string) error {
		cfg, err := transport.TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: set.CACert}.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer hc.CloseIdleConnections()
		r, err := hc.Get(url)
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, r.Status)
		}
		return nil
	}
	peer := c.PeerURL(0) + "/members"
	if err := get(peer, set.ServerCert, set.ServerKey); err != nil {
		t.Fatalf("a member's certificate on the peer port: %v", err)
	}
	if err := get(peer, set.ClientCert, set.ClientKey); err == nil {
		t.Error("the peer port accepted a client certificate (CN privlink)")
	}
	if err := get(c.Endpoints()[0]+"/health", set.ClientCert, set.ClientKey); err != nil {
		t.Errorf("the client port refused the client certificate: %v", err)
	}
}

// TestClusterLeaseSurvivesQuorumLoss: a Lease kept by a client (as an
// agent keeps its liveness key: Ensure and Write every 300 ms in one
// goroutine) across an outage of two of three members for 2×TTL comes
// back with the same ID and its key once the members return: the
// keepalive ended during the outage, but Ensure resumes the lease etcd
// still has instead of granting a new one.
func TestClusterLeaseSurvivesQuorumLoss(t *testing.T) {
	const ttl = 2 * time.Second
	c := testenv.StartEtcdCluster(t, 3)
	s := open(t, c, c.Endpoints()...)
	l := s.NewLease(ttl)
	key := s.Prefix() + "test/alive"

	type round struct {
		at    time.Time
		fresh bool
		id    int64
		err   error
	}
	var mu sync.Mutex
	var rounds []round
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			fresh, err := l.Ensure(ctx)
			if err == nil {
				err = l.Write(ctx, map[string]any{key: "yes"})
			}
			cancel()
			mu.Lock()
			rounds = append(rounds, round{time.Now(), fresh, l.ID(), err})
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			close(stop)
			<-done
		}
	})
	// since returns the rounds after t0.
	since := func(t0 time.Time) []round {
		mu.Lock()
		defer mu.Unlock()
		var out []round
		for _, r := range rounds {
			if r.at.After(t0) {
				out = append(out, r)
			}
		}
		return out
	}
	testenv.Eventually(t, "first lease", func() error {
		if r := since(time.Time{}); len(r) == 0 || r[len(r)-1].err != nil {
			return fmt.Errorf("rounds %v", r)
		}
		return nil
	})
	id := since(time.Time{})[0].id

	killed := time.Now()
	c.Kill(t, 0)
	c.Kill(t, 1)
	time.Sleep(2 * ttl)
	failed := 0
	for _, r := range since(killed) {
		if r.err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no Ensure or Write failed while two of three members were down: the outage did not happen")
	}
	back := time.Now()
	c.Start(t, 0, 1)
	testenv.Eventually(t, "a successful round after the members returned", func() error {
		if r := since(back); len(r) == 0 || r[len(r)-1].err != nil {
			return fmt.Errorf("last rounds %v", r)
		}
		return nil
	})
	close(stop)
	<-done
	for _, r := range since(killed) {
		if r.fresh || (r.err == nil && r.id != id) {
			t.Fatalf("round at +%v: fresh %v, lease %x, want the same lease %x", r.at.Sub(killed), r.fresh, r.id, id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if held, err := s.LeaseOf(ctx, key); err != nil || held != id {
		t.Fatalf("key under lease %x (%v), want %x", held, err, id)
	}
}

// TestClusterCacheRidesOutMemberLoss: a Cache (what every agent and
// controller builds on) whose client lists all three members keeps
// following writes while each member in turn is killed (-9) and restarted,
// so at some point the member it was watching through dies.
func TestClusterCacheRidesOutMemberLoss(t *testing.T) {
	c := testenv.StartEtcdCluster(t, 3)
	s := open(t, c, c.Endpoints()...)
	cache := store.NewCache(s, slog.Default())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cache.Run(ctx)
	<-cache.Synced()
	for i := range 3 {
		killed := time.Now()
		c.Kill(t, i)
		w := open(t, c, c.Endpoints()[(i+1)%3]) // a writer on a live member
		vpc := model.VPC{VpcID: model.NewID(model.PrefixVPC), AccountID: "1234567890123456", CidrBlock: netip.MustParsePrefix("10.0.0.0/16")}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := w.PutRaw(wctx, w.ResourceKey(store.KindVPC, vpc.VpcID), store.MustJSON(vpc)); err != nil {
			t.Fatalf("write with member %d down: %v", i+1, err)
		}
		wcancel()
		testenv.Eventually(t, fmt.Sprintf("the cache sees a write made while member %d is down", i+1), func() error {
			if cache.State().VPCs[vpc.VpcID] == nil {
				return errors.New("not yet")
			}
			return nil
		})
		t.Logf("member %d killed: a write made and seen by the cache %v after the kill", i+1, time.Since(killed).Round(time.Millisecond))
		c.Start(t, i)
	}
}
