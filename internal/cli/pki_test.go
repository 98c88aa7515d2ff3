package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/cli"
	"github.com/privlink/privlink/internal/pki"
)

// TestPKIIssue: `privlink pki issue` writes another member's set from the
// data dir's CA (never the CA key), refuses an existing set and a data
// dir without a CA.
func TestPKIIssue(t *testing.T) {
	data := t.TempDir()
	if _, err := pki.Ensure(filepath.Join(data, "pki"), nil); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"pki", "issue"}, args...))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	out := filepath.Join(t.TempDir(), "m2")
	if msg, err := run("--data-dir", data, "--host", "10.0.0.2", "--out", out); err != nil || !strings.Contains(msg, "10.0.0.2") {
		t.Fatalf("issue: %q %v", msg, err)
	}
	for _, f := range []string{"ca.crt", "server.crt", "server.key", "client.crt", "client.key"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "ca.key")); !os.IsNotExist(err) {
		t.Errorf("ca.key copied: %v", err)
	}
	for name, args := range map[string][]string{
		"existing set": {"--data-dir", data, "--host", "10.0.0.2", "--out", out},
		"no CA":        {"--data-dir", t.TempDir(), "--out", filepath.Join(t.TempDir(), "x")},
		"no --out":     {"--data-dir", data},
	} {
		if _, err := run(args...); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

// TestServerClusterFlags: the cluster flags reach the embedded etcd's
// configuration; inconsistent ones are refused before anything starts.
func TestServerClusterFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--etcd-endpoints", "https://127.0.0.1:1", "--etcd-name", "m2"}, "external cluster instead"},
		{[]string{"--data-dir", t.TempDir(), "--etcd-name", "m1", "--etcd-initial-cluster", "m9=https://127.0.0.1:2380"}, "does not name this member \"m1\""},
		{[]string{"--data-dir", t.TempDir(), "--etcd-name", "m1", "--etcd-listen-peer", "https://127.0.0.1:1", "--etcd-initial-cluster", "m1=https://127.0.0.2:2380"}, "but it advertises 127.0.0.1:1"},
		{[]string{"--data-dir", t.TempDir(), "--etcd-initial-cluster-state", "old"}, "give new or existing"},
	} {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"server", "--network", "loopback", "--no-agents", "--listen", "127.0.0.1:0"}, tc.args...))
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("server %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
