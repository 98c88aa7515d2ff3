package server_test

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
)

// TestExternalEtcdCluster: an API server on an external three-member
// cluster of the system's etcd (Debian's etcd-server; skipped without
// it), given as --etcd-endpoints: it works, and keeps working once the
// client has failed over from a member killed with -9.
func TestExternalEtcdCluster(t *testing.T) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("no etcd binary (apt-get install etcd-server): the external-cluster path is not tested here")
	}
	type member struct {
		name, client, peer string
		cmd                *exec.Cmd
		done               chan struct{}
	}
	ms := make([]*member, 3)
	var initial []string
	for i := range ms {
		ms[i] = &member{name: fmt.Sprintf("e%d", i+1),
			client: fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)),
			peer:   fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))}
		initial = append(initial, ms[i].name+"="+ms[i].peer)
	}
	var endpoints []string
	for _, m := range ms {
		m.cmd = exec.Command(bin, "--name", m.name, "--data-dir", t.TempDir(),
			"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "privlink-ext-test", "--log-level", "error")
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := m.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		m.done = make(chan struct{})
		go func() { _ = m.cmd.Wait(); close(m.done) }()
		t.Cleanup(func() {
			_ = m.cmd.Process.Signal(syscall.SIGKILL)
			<-m.done
		})
		endpoints = append(endpoints, m.client)
	}
	testenv.Eventually(t, "external cluster healthy", func() error {
		r, err := http.Get(endpoints[0] + "/health") // loopback, the member the test started
		if err != nil {
			return err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(b), `"health":"true"`) {
			return fmt.Errorf("health %s", b)
		}
		return nil
	})
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}, DataDir: t.TempDir(), EtcdEndpoints: endpoints})
	for i := range 5 {
		if _, err := e.Admin.CreateAccount(bg, api.CreateAccountRequest{Name: fmt.Sprintf("x%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	_ = ms[0].cmd.Process.Signal(syscall.SIGKILL)
	<-ms[0].done
	testenv.Eventually(t, "a call after a member was killed", func() error {
		_, err := e.Admin.ListAccounts(bg)
		return err
	})
	for i := range 20 {
		if _, err := e.Admin.CreateAccount(bg, api.CreateAccountRequest{Name: fmt.Sprintf("y%d", i)}); err != nil {
			t.Fatalf("call %d after failing over: %v", i, err)
		}
	}
}
