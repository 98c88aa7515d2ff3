package keeper

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/handoff"
)

// The workers of these tests are this test binary run again with
// $KEEPER_TEST_WORKER naming what it does (workerMain): real processes
// speaking the real protocol over the keeper's connection, each serving
// one TCP port that it takes over from the keeper or binds.
func TestMain(m *testing.M) {
	if mode := os.Getenv("KEEPER_TEST_WORKER"); mode != "" {
		os.Exit(workerMain(mode, os.Getenv("KEEPER_TEST_ADDR")))
	}
	os.Exit(m.Run())
}

// workerMain: "serve" takes over or binds addr, reports it and lease 42
// (or keeps the lease it was given), says it is ready and answers each
// connection with "PID LEASE"; on SIGTERM it closes the port, reports
// that and exits 0. "fail" exits 3 at once; "exit0" exits 0 once ready.
func workerMain(mode, addr string) int {
	if mode == "fail" {
		return 3
	}
	fd, _ := strconv.Atoi(os.Getenv(EnvFD))
	fc, err := net.FileConn(os.NewFile(uintptr(fd), "keeper"))
	if err != nil {
		return 10
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	t, err := handoff.TakeFrom(fc.(*net.UnixConn), 5*time.Second, log, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 11
	}
	key := handoff.Key("tcp", "", netip.MustParseAddrPort(addr))
	ln, err := handoff.NewSockets(nil, t.Sockets).Listener(key)
	if ln == nil && err == nil {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 12
	}
	lease := t.Lease
	if lease == 0 {
		lease = 42
	}
	t.Keep([]handoff.Socket{{Key: key, FD: handoff.FD(ln)}})
	t.SetLease(lease)
	if err := t.Ready(5 * time.Second); err != nil {
		return 13
	}
	if mode == "exit0" {
		return 0
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		<-stop
		ln.Close()
		t.Drop([]string{key})
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {} // closed by the SIGTERM handler, which exits
		}
		fmt.Fprintf(c, "%d %d\n", os.Getpid(), lease)
		c.Close()
	}
}

// keeperRun is a keeper run by a test.
type keeperRun struct {
	addr   string
	reload chan os.Signal
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's, once done is closed
}

// run starts a keeper whose n-th worker does modes[min(n, len)-1]; the
// test's end stops it.
func run(t *testing.T, grace time.Duration, modes ...string) *keeperRun {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &keeperRun{addr: ln.Addr().String(), done: make(chan struct{}), reload: make(chan os.Signal)}
	ln.Close()
	n := 0
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go func() {
		defer close(k.done)
		k.err = Run(ctx, Config{Grace: grace, Reload: k.reload, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Command: func() *exec.Cmd {
			mode := modes[min(n, len(modes)-1)]
			n++
			cmd := exec.Command(os.Args[0], "-test.run", "^$")
			cmd.Env = append(os.Environ(), "KEEPER_TEST_WORKER="+mode, "KEEPER_TEST_ADDR="+k.addr)
			cmd.Stderr = os.Stderr
			return cmd
		}})
	}()
	t.Cleanup(func() { k.stop(t) })
	return k
}

// wait waits for Run to return on its own and returns its error.
func (k *keeperRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-k.done:
		return k.err
	case <-time.After(10 * time.Second):
		t.Fatal("the keeper did not end")
		return nil
	}
}

// stop stops the keeper and returns Run's error.
func (k *keeperRun) stop(t *testing.T) error {
	k.cancel()
	return k.wait(t)
}

// ask connects to addr and reads the worker's "PID LEASE".
func ask(addr string) (pid int, lease int64, err error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	_, err = fmt.Sscanf(line, "%d %d", &pid, &lease)
	return pid, lease, err
}

func waitServing(t *testing.T, addr string) (int, int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		pid, lease, err := ask(addr)
		if err == nil {
			return pid, lease
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not served: %v", addr, err)
		}
	}
}

func TestCrashedWorkerReplaced(t *testing.T) {
	k := run(t, time.Minute, "serve")
	addr := k.addr
	pid1, lease1 := waitServing(t, addr)
	if lease1 != 42 {
		t.Fatalf("first worker's lease %d", lease1)
	}
	syscall.Kill(pid1, syscall.SIGKILL)
	// Asked right away: the port is never closed, the question waits for
	// the next worker.
	pid2, lease2, err := ask(addr)
	if err != nil || pid2 == pid1 || lease2 != 42 {
		t.Fatalf("after the crash: pid %d (was %d), lease %d, %v", pid2, pid1, lease2, err)
	}
	if err := k.stop(t); err != nil {
		t.Fatalf("keeper stopped: %v", err)
	}
	if _, _, err := ask(addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("after the stop: %v, want refused", err)
	}
}

// A reload whose new worker exits before it is ready leaves the running
// one current: it serves on, and when it dies later the keeper bridges
// that crash as any other.
func TestFailedReload(t *testing.T) {
	k := run(t, time.Minute, "serve", "fail", "serve")
	pid1, _ := waitServing(t, k.addr)
	k.reload <- syscall.SIGHUP
	time.Sleep(300 * time.Millisecond) // the new worker has failed by now
	if pid, _, err := ask(k.addr); err != nil || pid != pid1 {
		t.Fatalf("after a failed reload: served by %d (%v), want %d", pid, err, pid1)
	}
	syscall.Kill(pid1, syscall.SIGKILL)
	if pid, lease, err := ask(k.addr); err != nil || pid == pid1 || lease != 42 {
		t.Fatalf("after the crash: pid %d (was %d), lease %d, %v", pid, pid1, lease, err)
	}
}

func TestGraceClosesHeldSockets(t *testing.T) {
	addr := run(t, 500*time.Millisecond, "serve", "fail").addr
	pid, _ := waitServing(t, addr)
	killed := time.Now()
	syscall.Kill(pid, syscall.SIGKILL)
	// Held: a connection is accepted by the kernel even with no worker.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("right after the crash: %v", err)
	}
	c.Close()
	for ; ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatal("the held socket was not closed after the grace period")
		}
	}
	if d := time.Since(killed); d < 500*time.Millisecond {
		t.Fatalf("closed %v after the crash, before the grace period", d)
	}
}

func TestWorkerEndsKeeper(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want string // "" = nil
	}{
		{"fail", "never ready: the agent exited with status 3"},
		{"exit0", ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			err := run(t, time.Minute, tc.mode).wait(t)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("keeper: %v, want %q", err, tc.want)
			}
		})
	}
}
