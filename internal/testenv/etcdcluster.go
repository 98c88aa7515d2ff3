package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/pki"
	"github.com/privlink/privlink/internal/store"
)

// etcdMemberEnv carries a member's store.Config (JSON) to a re-executed
// test binary: see RunEtcdMember.
const etcdMemberEnv = "PRIVLINK_TEST_ETCD_MEMBER"

// RunEtcdMember turns this test binary into one embedded etcd member when
// EtcdCluster started it, and never returns then: call it first in the
// TestMain of a package that uses StartEtcdCluster. The member prints
// "ready" once its etcd has a quorum, and stops when its stdin closes (or
// dies by SIGKILL, which is the point).
func RunEtcdMember() {
	raw := os.Getenv(etcdMemberEnv)
	if raw == "" {
		return
	}
	var cfg store.Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "etcd member config:", err)
		os.Exit(2)
	}
	signal.Ignore(syscall.SIGINT) // go test's ^C: the parent kills us
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd member:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	st.Close()
	os.Exit(0)
}

// EtcdCluster is a cluster of embedded etcd members (privlink's
// store.Open with store.Member), each its own process re-executed from
// the test binary, so that Kill is a real kill -9. Member i listens on
// 127.0.0.(i+1) with free ports and holds certificates issued by member
// 0's CA with pki.Issue, as an operator would.
type EtcdCluster struct {
	Creds   store.Credentials // the test's client credentials (member 0's client certificate)
	members []*etcdMember
}

type etcdMember struct {
	cfg  store.Config
	cmd  *exec.Cmd
	in   io.WriteCloser
	log  string // the member's stderr
	done chan struct{}
}

// StartEtcdCluster starts n members and returns once all are ready; they
// are killed when the test ends.
func StartEtcdCluster(t testing.TB, n int) *EtcdCluster {
	t.Helper()
	c := &EtcdCluster{}
	var initial []string
	for i := range n {
		host := fmt.Sprintf("127.0.0.%d", i+1)
		m := &etcdMember{cfg: store.Config{
			DataDir:   t.TempDir(),
			ClientURL: fmt.Sprintf("https://%s:%d", host, FreePort(t)),
			PeerURL:   fmt.Sprintf("https://%s:%d", host, FreePort(t)),
			Member:    store.Member{Name: fmt.Sprintf("m%d", i+1), Token: "privlink-test"},
		}}
		initial = append(initial, m.cfg.Member.Name+"="+m.cfg.PeerURL)
		first := store.PKIDir(c.first().DataDir)
		if i == 0 {
			set, err := pki.Ensure(store.PKIDir(m.cfg.DataDir), []string{host})
			if err != nil {
				t.Fatal(err)
			}
			c.Creds = store.Credentials{CACert: set.CACert, Cert: set.ClientCert, Key: set.ClientKey}
		} else if _, err := pki.Issue(first, store.PKIDir(m.cfg.DataDir), []string{host}); err != nil {
			t.Fatal(err)
		}
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		m.cfg.Member.InitialCluster = strings.Join(initial, ",")
		etcds.Store(m.cfg.ClientURL, c.Creds)
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			etcds.Delete(m.cfg.ClientURL)
			c.stop(m)
		}
	})
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	c.Start(t, all...)
	return c
}

func (c *EtcdCluster) first() store.Config {
	if len(c.members) == 0 {
		return store.Config{}
	}
	return c.members[0].cfg
}

// Endpoints are every member's client URL.
func (c *EtcdCluster) Endpoints() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.cfg.ClientURL
	}
	return out
}

// PeerURL is member i's peer URL.
func (c *EtcdCluster) PeerURL(i int) string { return c.members[i].cfg.PeerURL }

// PKIDir is member i's certificate directory.
func (c *EtcdCluster) PKIDir(i int) string { return store.PKIDir(c.members[i].cfg.DataDir) }

// Start starts the given (stopped) members together and waits until each
// is ready: a member is ready only once a quorum is up.
func (c *EtcdCluster) Start(t testing.TB, idx ...int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan error, len(idx))
	for _, i := range idx {
		m := c.members[i]
		raw, _ := json.Marshal(m.cfg)
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), etcdMemberEnv+"="+string(raw))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		m.log = filepath.Join(m.cfg.DataDir, "member.log")
		errf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = errf
		out, _ := cmd.StdoutPipe()
		if m.in, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		errf.Close()
		m.cmd, m.done = cmd, make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			if sc.Scan() && sc.Text() == "ready" {
				ready <- nil
			} else {
				ready <- fmt.Errorf("member %s exited before ready", m.cfg.Member.Name)
			}
			_, _ = io.Copy(io.Discard, out)
			_ = cmd.Wait()
			close(m.done)
		}()
	}
	timeout := time.After(90 * time.Second)
	for range idx {
		select {
		case err := <-ready:
			if err != nil {
				t.Fatalf("%v\n%s", err, c.logs(idx))
			}
		case <-timeout:
			t.Fatalf("etcd members %v not ready in 90s\n%s", idx, c.logs(idx))
		}
	}
}

// logs are the stderr of the given members.
func (c *EtcdCluster) logs(idx []int) string {
	var b strings.Builder
	for _, i := range idx {
		out, _ := os.ReadFile(c.members[i].log)
		fmt.Fprintf(&b, "--- member %d:\n%s", i, out)
	}
	return b.String()
}

// Kill sends SIGKILL to member i (by PID) and waits for it to be gone.
func (c *EtcdCluster) Kill(t testing.TB, i int) {
	t.Helper()
	m := c.members[i]
	if m.cmd == nil {
		t.Fatalf("member %d is not running", i)
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.cmd = nil
}

// Freeze stops member i with SIGSTOP: its sockets stay open and silent,
// as a machine that hangs or is cut off without a reset; Thaw resumes it.
func (c *EtcdCluster) Freeze(t testing.TB, i int) { c.signal(t, i, syscall.SIGSTOP) }

// Thaw resumes a frozen member (SIGCONT).
func (c *EtcdCluster) Thaw(t testing.TB, i int) { c.signal(t, i, syscall.SIGCONT) }

func (c *EtcdCluster) signal(t testing.TB, i int, sig syscall.Signal) {
	t.Helper()
	m := c.members[i]
	if m.cmd == nil {
		t.Fatalf("member %d is not running", i)
	}
	if err := m.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// stop ends a running member: stdin closed (a clean stop), SIGKILL after 5 s.
func (c *EtcdCluster) stop(m *etcdMember) {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGCONT) // a frozen member
	m.in.Close()
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Signal(syscall.SIGKILL)
		<-m.done
	}
	m.cmd = nil
}
