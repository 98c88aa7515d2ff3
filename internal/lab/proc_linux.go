//go:build linux

package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// Proc is a process running on a node: a privlink server or agent, or a
// test helper. Its output (stdout and stderr, every run) is appended to
// Log.
type Proc struct {
	Node *Node
	Name string
	Argv []string
	Env  []string // added to the test's environment
	Log  string   // <lab dir>/<node>-<name>.log

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run has been reaped
	err  error         // the current run's exit
}

// Start runs argv (argv[0] a path or a name looked up in PATH) inside the
// node namespace, in the caller's mount namespace: the launching goroutine
// locks its OS thread, enters the node namespace, starts the child (which
// inherits the thread's network namespace) and returns to the original
// namespace. The child gets SIGKILL if the lab's process dies
// (PR_SET_PDEATHSIG). env entries are added to the current environment.
func (n *Node) Start(name string, argv []string, env ...string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("lab: empty command")
	}
	l := n.lab
	p := &Proc{Node: n, Name: name, Argv: argv, Env: env, Log: filepath.Join(l.Dir, n.Name+"-"+name+".log")}
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.procs = append(l.procs, p)
	}
	l.mu.Unlock()
	if closed {
		return nil, errors.New("lab: closed")
	}
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Proc) start() error {
	n := p.Node
	logf, err := os.OpenFile(p.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("lab: %s log: %w", p.Name, err)
	}
	defer logf.Close() // the child holds its own copy
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(n.ns); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("enter %s: %w", n.Namespace, err)
			return
		}
		serr := cmd.Start()
		if err := netns.Set(n.lab.origin); err != nil {
			// Stay locked: the runtime retires the thread (and, through
			// Pdeathsig, the child with it).
			ch <- errors.Join(serr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		ch <- serr
	}()
	if err := <-ch; err != nil {
		return fmt.Errorf("lab: start %s on %s: %w", p.Name, n.Name, err)
	}
	if err := appendOwner(n.lab.Prefix, "proc", cmd.Process.Pid); err != nil {
		n.lab.log.Warn("lab: record process for the stale sweep", "proc", p.Name, "err", err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		if p.done == done {
			p.err = err
		}
		p.mu.Unlock()
		close(done)
	}()
	n.lab.log.Info("process started", "node", n.Name, "proc", p.Name, "pid", cmd.Process.Pid)
	return nil
}

// PID is the current run's process ID.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Done is closed when the current run has exited and been reaped.
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Running reports whether the current run has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.Done():
		return false
	default:
		return true
	}
}

// Wait waits for the current run to exit and returns its exit error.
func (p *Proc) Wait() error {
	<-p.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Kill sends SIGKILL to the current run (by PID) and waits until it is
// reaped. A run that already exited is fine.
func (p *Proc) Kill() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("lab: kill %s (pid %d): %w", p.Name, cmd.Process.Pid, err)
	}
	<-done
	p.Node.lab.log.Info("process killed", "node", p.Node.Name, "proc", p.Name, "pid", cmd.Process.Pid)
	return nil
}

// Stop sends SIGTERM and waits up to grace for the exit, then SIGKILLs.
func (p *Proc) Stop(grace time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("lab: stop %s: %w", p.Name, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(grace):
		return p.Kill()
	}
}

// Restart kills the current run if it still runs and starts the same
// command again on the same node (a new PID; the log is appended to).
func (p *Proc) Restart() error {
	if err := p.Kill(); err != nil {
		return err
	}
	p.Node.lab.mu.Lock()
	closed := p.Node.lab.closed
	p.Node.lab.mu.Unlock()
	if closed {
		return errors.New("lab: closed")
	}
	return p.start()
}

// Output is what the process wrote so far (all runs).
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}
