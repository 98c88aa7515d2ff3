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
