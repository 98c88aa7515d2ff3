//go:build linux

package lab

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/nsfs"
	"github.com/privlink/privlink/internal/server"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// privlinkBin builds cmd/privlink once per test binary.
func privlinkBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "privlink-lab-bin-"); buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir+"/", "github.com/privlink/privlink/cmd/privlink").CombinedOutput()
		if err != nil {
			buildErr = errors.New("build privlink: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "privlink")
}

// TestPrivlinkAcrossNodes runs the real binary as separate machines: a
// privlink server (embedded etcd, API over TLS, zone h's agent) on n1, a
// standalone agent of zone i on n2 that reaches etcd over the underlay, and
// the test's API client in n3. A host of zone i becomes a namespace made by
// n2's agent under n2's prefix. After both processes are kill -9ed, Close
// removes every namespace and /etc/netns entry they made.
func TestPrivlinkAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the privlink binary")
	}
	l := New(t, Config{Nodes: 3, Zones: []string{"cn-hangzhou-h", "cn-hangzhou-i"}})
	bin := privlinkBin(t)
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	data := filepath.Join(l.Dir, "n1-data")
	u1 := n1.Underlay.String()
	srv, err := n1.Start("server", []string{bin, "server", "--data-dir", data, "--network", "netns",
		"--listen", u1 + ":8443", "--tls-self-signed",
		"--etcd-listen-client", "https://" + u1 + ":2379", "--etcd-listen-peer", "https://" + u1 + ":2380",
		"--netns-prefix", n1.NetnsPrefix, "--agent-zones", n1.Zone, "--log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	token := waitFile(t, srv, filepath.Join(data, "admin.token"))
	caFile, _ := server.SelfSignedPaths(data)
	waitFile(t, srv, caFile)
	admin, err := n3.Client("https://"+u1+":8443", strings.TrimSpace(token), caFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var user *client.Client
	eventually(t, "the API answers from n3", func() error {
		var err error
		user, _, err = admin.CreateAccountClient(ctx, "labuser")
		return err
	})

	pki := filepath.Join(data, "pki")
	agent, err := n2.Start("agent", []string{bin, "agent", "--zone", n2.Zone, "--network", "netns",
		"--etcd-endpoints", "https://" + u1 + ":2379", "--etcd-cacert", filepath.Join(pki, "ca.crt"),
		"--etcd-cert", filepath.Join(pki, "client.crt"), "--etcd-key", filepath.Join(pki, "client.key"),
		"--netns-prefix", n2.NetnsPrefix, "--log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}

	vpc, err := user.CreateVPC(ctx, api.CreateVPCRequest{Name: "v", CidrBlock: "192.168.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := user.CreateVSwitch(ctx, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: n2.Zone, CidrBlock: "192.168.1.0/24", Name: "i"})
	if err != nil {
		t.Fatal(err)
	}
	host, err := user.CreateHost(ctx, api.CreateHostRequest{VSwitchID: vsw.VSwitchID, Name: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	hostNS := nsfs.Path(n2.NetnsPrefix + "-" + host.HostID)
	eventually(t, "n2's agent creates the host's namespace", func() error {
		if !agent.Running() {
			t.Fatalf("agent exited: %s", agent.Output())
		}
		h, err := nsfs.Open(hostNS)
		if err == nil {
			h.Close()
		}
		return err
	})
	if _, err := os.Stat(nsfs.Path(n1.NetnsPrefix + "-" + host.HostID)); err == nil {
		t.Error("n1 (zone h) built a host of zone i")
	}
	if len(Leftovers(n2.NetnsPrefix+"-")) < 2 { // the VPC copy and the host
		t.Errorf("n2's namespaces: %v", Leftovers(n2.NetnsPrefix+"-"))
	}

	for _, p := range []*Proc{agent, srv} {
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if left := Leftovers(l.Prefix); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func waitFile(t *testing.T, p *Proc, path string) string {
	t.Helper()
	var b []byte
	eventually(t, path, func() error {
		if !p.Running() {
			t.Fatalf("%s exited: %s", p.Name, p.Output())
		}
		var err error
		b, err = os.ReadFile(path)
		return err
	})
	return string(b)
}

// eventually retries fn for up to 30 s.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
