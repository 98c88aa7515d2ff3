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
//
// A reload (Config.Reload: SIGHUP to `privlink agent --socket-keeper
// --handoff-socket PATH`; an upgrade, since each worker runs the binary
// now at the keeper's path) starts a new worker beside the running one:
// it takes over from it by handoff (package handoff) as well as from the
// keeper, and the old one drains and exits; its last reports (the
// sockets it closes on the way out) no longer count. A new worker that
// exits before it is ready leaves the old one current, serving on.
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
	Grace time.Duration
	// Reload (nil: none) asks for a planned replacement of the worker
	// (the value is not looked at: a signal, SIGHUP): a new one is started
	// beside it, takes over from it by handoff (the workers'
	// --handoff-socket), and the old one drains and exits.
	Reload <-chan os.Signal
	// NoReload, if set, says why a reload cannot be done (it is then
	// logged and ignored).
	NoReload string
	Logger   *slog.Logger
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
	k := &keeper{cfg: cfg, held: handoff.NewHeld()}
	defer k.held.Close()
	return k.run(ctx)
}

type keeper struct {
	cfg  Config
	held *handoff.Held
	n    int // workers started

	cur       *worker // nil while a restart waits
	old       *worker // the worker a reload replaces, until it exits
	everReady bool
	graceC    <-chan time.Time
	restartC  <-chan time.Time
	backoff   time.Duration
}

func (k *keeper) run(ctx context.Context) error {
	if err := k.startCurrent(); err != nil {
		return err
	}
	for {
		var curReady <-chan struct{}
		var curExited, oldExited <-chan error
		if k.cur != nil {
			curExited = k.cur.exited
			if !k.cur.isReady {
				curReady = k.cur.ready
			}
		}
		if k.old != nil {
			oldExited = k.old.exited
		}
		select {
		case <-ctx.Done():
			return k.stop()
		case <-k.cfg.Reload:
			k.reload()
		case <-curReady:
			k.cur.isReady, k.everReady, k.graceC = true, true, nil
			k.cfg.Logger.Info("socket keeper: agent ready", "pid", k.cur.pid, "replacing", k.old.pidOrZero())
		case <-k.graceC:
			k.graceC = nil
			k.cfg.Logger.Error("socket keeper: no agent ready within the grace period: closing the held sockets (clients are refused until one is)",
				"grace", k.cfg.Grace, "sockets", k.held.Len())
			k.held.Close()
		case err := <-oldExited:
			k.old.finish()
			k.cfg.Logger.Info("socket keeper: the replaced agent exited", "pid", k.old.pid, "exit", exitOf(err))
			k.old = nil
		case err := <-curExited:
			if done, err := k.curExited(exitOf(err)); done {
				return err
			}
		case <-k.restartC:
			k.restartC = nil
			if err := k.startCurrent(); err != nil {
				return err
			}
		}
	}
}

// curExited handles the current worker's exit; done: the keeper ends
// with err.
func (k *keeper) curExited(exit error) (done bool, err error) {
	w := k.cur
	w.finish()
	k.cur = nil
	switch {
	case k.old != nil && !w.isReady:
		// A reload that failed: its predecessor resumed (handoff).
		k.cfg.Logger.Error("socket keeper: the new agent exited before it was ready; the previous one serves on", "pid", w.pid, "exit", exit)
		k.cur, k.old = k.old, nil
		k.held.SetCurrent(k.cur.id)
		return false, nil
	case exit == nil:
		k.stopOld()
		return true, nil // it stopped on its own
	case !k.everReady:
		k.stopOld()
		return true, fmt.Errorf("socket keeper: not restarted, it was never ready: %w", exit)
	}
	// A crash: hold on, and start another.
	if time.Since(w.started) > time.Minute {
		k.backoff = 0
	}
	k.cfg.Logger.Error("socket keeper: the agent died; starting another, which takes over its sockets and lease",
		"worker", w.id, "pid", w.pid, "exit", exit, "sockets", k.held.Len(), "lease", fmt.Sprintf("%x", k.held.Lease()), "after", k.backoff)
	if k.graceC == nil {
		k.graceC = time.After(k.cfg.Grace)
	}
	k.restartC = time.After(k.backoff)
	k.backoff = min(max(2*k.backoff, 100*time.Millisecond), 5*time.Second)
	return false, nil
}

// reload starts a worker beside the current, ready one; it takes over by
// handoff and the current one becomes old (it drains and exits).
func (k *keeper) reload() {
	if k.cfg.NoReload != "" {
		k.cfg.Logger.Warn("socket keeper: reload ignored: " + k.cfg.NoReload)
		return
	}
	if k.cur == nil || !k.cur.isReady || k.old != nil {
		k.cfg.Logger.Warn("socket keeper: reload ignored: the agent is not ready or a reload is in progress")
		return
	}
	w, err := k.start()
	if err != nil {
		k.cfg.Logger.Error("socket keeper: reload", "err", err)
		return
	}
	k.cfg.Logger.Info("socket keeper: reload: a new agent takes over from the running one", "pid", w.pid, "replacing", k.cur.pid)
	k.old, k.cur = k.cur, w
	k.held.SetCurrent(w.id)
}

func (k *keeper) startCurrent() error {
	w, err := k.start()
	if err != nil {
		return err
	}
	k.cur = w
	k.held.SetCurrent(w.id)
	return nil
}

// stop passes a stop to the workers and waits for them; the result is
// the current worker's exit.
func (k *keeper) stop() error {
	k.stopOld()
	if k.cur == nil {
		return nil
	}
	_ = k.cur.cmd.Process.Signal(syscall.SIGTERM)
	exit := exitOf(<-k.cur.exited)
	k.cur.finish()
	return exit
}

func (k *keeper) stopOld() {
	if k.old != nil {
		_ = k.old.cmd.Process.Signal(syscall.SIGTERM)
		<-k.old.exited
		k.old.finish()
		k.old = nil
	}
}

type worker struct {
	id      int
	cmd     *exec.Cmd
	pid     int
	started time.Time
	c       *net.UnixConn
	ready   chan struct{}
	isReady bool
	served  chan error
	exited  chan error
}

func (w *worker) pidOrZero() int {
	if w == nil {
		return 0
	}
	return w.pid
}

// finish closes the connection of an exited worker.
func (w *worker) finish() {
	w.c.Close()
	<-w.served
}

// start starts the next worker with a new connection to the keeper.
func (k *keeper) start() (*worker, error) {
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
	cmd := k.cfg.Command()
	cmd.ExtraFiles = []*os.File{theirs} // descriptor 3
	cmd.Env = append(cmd.Environ(), EnvFD+"=3")
	// The keeper gone, the worker stops as on a stop (its sockets would
	// have nobody to hand them on).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		fc.Close()
		return nil, fmt.Errorf("socket keeper: start the agent: %w", err)
	}
	k.n++
	w := &worker{id: k.n, cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), c: fc.(*net.UnixConn),
		ready: make(chan struct{}), served: make(chan error, 1), exited: make(chan error, 1)}
	k.cfg.Logger.Info("socket keeper: agent started", "worker", w.id, "pid", w.pid, "heldSockets", k.held.Len())
	var once sync.Once
	go func() { w.served <- k.held.Serve(w.c, w.id, func() { once.Do(func() { close(w.ready) }) }) }()
	go func() { w.exited <- cmd.Wait() }()
	return w, nil
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
