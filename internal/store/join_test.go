package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/pki"
)

// TestMemberJoinsRunningCluster: three embedded members bootstrap a
// cluster; after `member add` a fourth starts with ClusterState
// "existing" (--etcd-initial-cluster-state existing) and certificates
// issued from the first member's CA, catches up, and serves reads and
// writes of the others.
func TestMemberJoinsRunningCluster(t *testing.T) {
	cfgs := make([]Config, 4)
	var initial []string
	for i := range cfgs {
		host := fmt.Sprintf("127.0.0.%d", i+1)
		port := func() string { u := freeURL(t); return u[strings.LastIndex(u, ":"):] }
		cfgs[i] = Config{DataDir: t.TempDir(), ClientURL: "https://" + host + port(), PeerURL: "https://" + host + port(),
			Member: Member{Name: fmt.Sprintf("m%d", i+1), Token: "join-test"}, Logger: slog.Default()}
		if i == 0 {
			if _, err := pki.Ensure(PKIDir(cfgs[0].DataDir), []string{host}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := pki.Issue(PKIDir(cfgs[0].DataDir), PKIDir(cfgs[i].DataDir), []string{host}); err != nil {
			t.Fatal(err)
		}
		initial = append(initial, cfgs[i].Member.Name+"="+cfgs[i].PeerURL)
	}
	stores := make([]*Store, 4)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		cfgs[i].Member.InitialCluster = strings.Join(initial[:3], ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), cfgs[i])
		}()
	}
	wg.Wait()
	for i, s := range stores[:3] {
		if s != nil {
			t.Cleanup(s.Close)
		}
		if errs[i] != nil {
			t.Fatalf("member %d: %v", i+1, errs[i])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// etcd refuses a member add ("unhealthy cluster") until every member
	// has been connected for 5 s.
	for {
		_, err := stores[0].cli.MemberAdd(ctx, []string{cfgs[3].PeerURL})
		if err == nil {
			break
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "unhealthy cluster") {
			t.Fatalf("member add: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := stores[1].PutRaw(ctx, stores[1].Prefix()+"test/before-join", "1"); err != nil {
		t.Fatal(err)
	}
	cfgs[3].Member.InitialCluster = strings.Join(initial, ",")
	cfgs[3].Member.ClusterState = "existing"
	s4, err := Open(ctx, cfgs[3])
	if err != nil {
		t.Fatalf("joining member: %v", err)
	}
	t.Cleanup(s4.Close)
	d, err := s4.Dump(ctx)
	if err != nil || d[s4.Prefix()+"test/before-join"] != "1" {
		t.Fatalf("the joined member does not serve a write made before it joined: %v %v", d, err)
	}
	if err := s4.PutRaw(ctx, s4.Prefix()+"test/after-join", "2"); err != nil {
		t.Fatal(err)
	}
	if d, err := stores[2].Dump(ctx); err != nil || d[s4.Prefix()+"test/after-join"] != "2" {
		t.Fatalf("a write through the joined member not read through member 3: %v", err)
	}
	eps, err := stores[0].MemberEndpoints(ctx)
	if err != nil || len(eps) != 4 {
		t.Fatalf("member endpoints %v %v, want 4", eps, err)
	}
}
