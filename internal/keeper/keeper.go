// Package keeper runs a privlink agent as a worker process under a small
// parent, the socket keeper, that holds a copy of each of the worker's
// listening sockets and its lease ID (handoff.Held). When the worker dies
// without being asked to stop (a crash, an OOM kill, kill -9), the keeper
// starts another at once, which takes the sockets and the lease over
// (handoff.TakeFrom). No listener closes: a client that connects in
// between waits in the listen queue until the new worker accepts instead
// of being refused, and if the new worker resumes the lease within its TTL
// no zone is withdrawn and no report is rewritten.
//
// A worker that exits on its own with status 0, or before it was ever
// ready (a bad flag or configuration must not loop), ends the keeper with
// its status. A stop (ctx) is passed to the worker as SIGTERM: it closes
// its listeners, which it reports, and revokes its lease as any agent
// does. If no new worker is ready within Grace after a crash, the keeper
// closes what it holds: clients are refused again, as without a keeper,
// rather than left waiting for a worker that does not come.
package keeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/handoff"
)

// EnvFD names the environment variable that tells a worker the
// descriptor of its connection to the keeper.
const EnvFD = "PRIVLINK_KEEPER_FD"

// DefaultGrace is Config.Grace's default.
const DefaultGrace = 30 * time.Second

// Config configures a keeper.
type Config struct {
	// Command returns a new worker's command (the keeper adds the
	// connection and EnvFD, and a parent-death signal).
	Command func() *exec.Cmd
	// Grace is how long held sockets wait for a new worker's readiness
	// after a crash before they are closed (default DefaultGrace).
	Grace  time.Duration
	Logger *slog.Logger
}

// ExitError is a worker's exit status other than 0 (128+N: killed by
// signal N).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("the agent exited with status %d", e.Code) }

// Run keeps a worker running until ctx ends or the worker ends the keeper
// (see the package comment); nil when it ended with status 0.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	held := handoff.NewHeld()
	defer held.Close()
	var (
		everReady bool
		graceC    <-chan time.Time
		backoff   time.Duration
	)
	for n := 1; ; n++ {
		w, err := start(cfg, held, n)
		if err != nil {
			return err
		}
		started := time.Now()
		exit, stopped := w.wait(ctx, cfg, held, &everReady, &graceC)
		if stopped {
			return exit
		}
		switch {
		case exit == nil:
			return nil // it stopped on its own
		case !everReady:
			return fmt.Errorf("socket keeper: not restarted, it was never ready: %w", exit)
		}
		// A crash: hold on, and start another.
		if time.Since(started) > time.Minute {
			backoff = 0
		}
		cfg.Logger.Error("socket keeper: the agent died; starting another, which takes over its sockets and lease",
			"worker", n, "pid", w.pid, "exit", exit, "sockets", held.Len(), "lease", fmt.Sprintf("%x", held.Lease()), "after", backoff)
		if graceC == nil {
			graceC = time.After(cfg.Grace)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
	}
}

type worker struct {
	cmd    *exec.Cmd
	pid    int
	c      *net.UnixConn
	ready  chan struct{}
	served chan error
	exited chan error
}

// start starts worker n with a new connection to the keeper, served by held.
func start(cfg Config, held *handoff.Held, n int) (*worker, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket keeper: socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "keeper"), os.NewFile(uintptr(fds[1]), "keeper-worker")
	defer theirs.Close()
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, fmt.Errorf("socket keeper: %w", err)
	}
	cmd := cfg.Command()
	cmd.ExtraFiles = []*os.File{theirs} // descriptor 3
	cmd.Env = append(cmd.Environ(), EnvFD+"=3")
	// The keeper gone, the worker stops as on a stop (its sockets would
	// have nobody to hand them on).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		fc.Close()
		return nil, fmt.Errorf("socket keeper: start the agent: %w", err)
	}
	w := &worker{cmd: cmd, pid: cmd.Process.Pid, c: fc.(*net.UnixConn), ready: make(chan struct{}),
		served: make(chan error, 1), exited: make(chan error, 1)}
	cfg.Logger.Info("socket keeper: agent started", "worker", n, "pid", w.pid, "heldSockets", held.Len())
	var once sync.Once
	go func() { w.served <- held.Serve(w.c, func() { once.Do(func() { close(w.ready) }) }) }()
	go func() { w.exited <- cmd.Wait() }()
	return w, nil
}

// wait runs until the worker exits, returning how (an *ExitError, or
// nil for status 0) and whether the keeper was stopped (ctx).
func (w *worker) wait(ctx context.Context, cfg Config, held *handoff.Held, everReady *bool, graceC *<-chan time.Time) (error, bool) {
	ready := w.ready
	stopping := false
	for {
		select {
		case <-ctx.Done():
			if !stopping {
				stopping = true
				_ = w.cmd.Process.Signal(syscall.SIGTERM)
			}
			ctx = context.Background() // wait for the exit below
		case <-ready:
			ready = nil
			*everReady, *graceC = true, nil
			cfg.Logger.Info("socket keeper: agent ready", "pid", w.pid)
		case <-*graceC:
			*graceC = nil
			cfg.Logger.Error("socket keeper: no agent ready within the grace period: closing the held sockets (clients are refused until one is)",
				"grace", cfg.Grace, "sockets", held.Len())
			held.Close()
		case err := <-w.exited:
			w.c.Close()
			<-w.served
			return exitOf(err), stopping
		}
	}
}

func exitOf(err error) error {
	if err == nil {
		return nil
	}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		code := xe.ExitCode() // -1 when killed by a signal
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return &ExitError{Code: code}
	}
	return err
}
