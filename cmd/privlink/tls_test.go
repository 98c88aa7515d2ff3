package main_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/pki"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/testenv"
)

// TestCLIOverTLS: the CLI talks to an https:// server with --cacert or
// $PRIVLINK_CACERT; without them it fails saying so and printing the
// fingerprint it saw; an http:// URL on the TLS port is told to use https.
func TestCLIOverTLS(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}, TLSSelfSigned: true})
	admin := cli{t: t, server: e.URL(), token: e.Admin.Token()}
	want, err := e.Admin.WhoAmI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ca := e.TLS().CertFile
	for name, c := range map[string]cli{
		"--cacert":         admin,
		"$PRIVLINK_CACERT": {t: t, server: e.URL(), token: e.Admin.Token(), env: []string{"PRIVLINK_CACERT=" + ca}},
	} {
		args := []string{"account", "whoami"}
		if name == "--cacert" {
			args = append(args, "--cacert", ca)
		}
		if got := c.run(args...); got["accountId"] != want.AccountID {
			t.Errorf("%s: whoami %v, want %s", name, got, want.AccountID)
		}
	}
	for _, tc := range []struct {
		name string
		c    cli
		args []string
		want []string
	}{
		{"no --cacert", admin, nil, []string{"is not trusted", e.TLS().Fingerprint, "pass --cacert FILE (or set PRIVLINK_CACERT)"}},
		{"another certificate", admin, []string{"--cacert", otherCert(t)}, []string{"is not trusted", e.TLS().Fingerprint}},
		{"missing --cacert file", admin, []string{"--cacert", "/nonexistent/ca.crt"}, []string{"CA certificate", "no such file"}},
		{"http:// to the TLS port", cli{t: t, server: "http://" + strings.TrimPrefix(e.URL(), "https://"), token: e.Admin.Token()},
			[]string{"--cacert", ca}, []string{"speaks HTTPS: use https://"}},
	} {
		_, errOut, err := tc.c.exec(append([]string{"account", "whoami"}, tc.args...)...)
		if err == nil {
			t.Errorf("%s: succeeded", tc.name)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr %q lacks %q", tc.name, errOut, w)
			}
		}
	}
}

// otherCert is a self-signed certificate for 127.0.0.1 that is not the server's.
func otherCert(t *testing.T) string {
	dir := t.TempDir()
	crt := filepath.Join(dir, "other.crt")
	if _, err := pki.SelfSigned(crt, filepath.Join(dir, "other.key"), []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	return crt
}

// TestServerRefusesClearNetworkListen: a non-loopback --listen without
// TLS is refused before anything starts, and says what to do.
func TestServerRefusesClearNetworkListen(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:18080", ":18080"} {
		out, err := exec.Command(binary, "server", "--data-dir", t.TempDir(), "--listen", listen).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "not a loopback address and the API has no TLS") ||
			!strings.Contains(string(out), "--tls-self-signed") || !strings.Contains(string(out), "--insecure-http") {
			t.Errorf("--listen %s: %v\n%s", listen, err, out)
		}
	}
}

// TestServerSelfSigned runs `privlink server --tls-self-signed`: it prints
// the certificate's SHA-256 fingerprint and the file to give the CLI, the
// CLI works with that file, and /metrics is on --metrics-listen only.
func TestServerSelfSigned(t *testing.T) {
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	metrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(binary, "server", "--data-dir", dir, "--listen", listen, "--metrics-listen", metrics,
		"--etcd-listen-client", fmt.Sprintf("https://127.0.0.1:%d", testenv.FreePort(t)),
		"--etcd-listen-peer", fmt.Sprintf("https://127.0.0.1:%d", testenv.FreePort(t)),
		"--network", "loopback", "--no-agents", "--netns-prefix", testenv.RandomPrefix(), "--tls-self-signed", "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var printed []string
	timeout := time.After(60 * time.Second)
	for len(printed) == 0 || !strings.Contains(printed[len(printed)-1], "management listener") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server exited:\n%s", strings.Join(printed, "\n"))
			}
			printed = append(printed, l)
		case <-timeout:
			t.Fatalf("no ready message in 60s:\n%s", strings.Join(printed, "\n"))
		}
	}
	go func() {
		for range lines {
		}
	}()
	out := strings.Join(printed, "\n")
	crt, _ := server.SelfSignedPaths(dir)
	pem, err := os.ReadFile(crt)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	leaf, err := tls.LoadX509KeyPair(crt, strings.TrimSuffix(crt, ".crt")+".key")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"privlink server ready at https://" + listen, "SHA-256 fingerprint " + pki.Fingerprint(leaf.Leaf.Raw),
		"--cacert " + crt, "at http://" + metrics} {
		if !strings.Contains(out, w) {
			t.Errorf("server output lacks %q:\n%s", w, out)
		}
	}
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := cli{t: t, server: "https://" + listen, token: strings.TrimSpace(string(tok))}
	if got := c.run("account", "whoami", "--cacert", crt); got["name"] != "admin" {
		t.Errorf("whoami over TLS: %v", got)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	for url, want := range map[string]int{"https://" + listen + "/metrics": 404, "http://" + metrics + "/metrics": 200, "https://" + listen + "/readyz": 200} {
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", url, resp.StatusCode, want)
		}
	}
}
