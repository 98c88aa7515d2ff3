package main_test

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/testenv"
)

// TestAgentEtcdPassword: `privlink agent --etcd-user` against an etcd with
// auth enabled takes its password from $PRIVLINK_ETCD_PASSWORD: the right
// one starts the agent, a wrong one stops it with an error naming the user.
func TestAgentEtcdPassword(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{"cn-hangzhou-h"}})
	e.EnableEtcdAuth(t, "zone-i", "s3cret")
	agent := func(password string) *exec.Cmd {
		cmd := exec.Command(binary, append([]string{"agent", "--zone", "cn-hangzhou-i", "--network", "loopback",
			"--netns-prefix", e.Prefix, "--etcd-user", "zone-i", "--log-level", "info"}, e.EtcdFlags()...)...)
		cmd.Env = append(os.Environ(), "PRIVLINK_ETCD_PASSWORD="+password)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		return cmd
	}

	out, err := agent("wrong").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `refused user "zone-i"`) || !strings.Contains(string(out), "PRIVLINK_ETCD_PASSWORD") {
		t.Errorf("wrong password: %v\n%s", err, out)
	}

	cmd := agent("s3cret")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		var seen []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			seen = append(seen, sc.Text())
			if strings.Contains(sc.Text(), "privlink agent ready") {
				ready <- ""
				break
			}
		}
		ready <- strings.Join(seen, "\n")
		for sc.Scan() {
		}
	}()
	select {
	case got := <-ready:
		if got != "" {
			t.Fatalf("the agent exited before ready:\n%s", got)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the agent with the right password is not ready in 60s")
	}
}
