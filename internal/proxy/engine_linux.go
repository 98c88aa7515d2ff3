//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The engine is the Linux data plane: a fixed set of event loops, one per
// GOMAXPROCS, each an epoll instance served by one goroutine that accepts,
// dials, copies and closes connections itself with non-blocking system
// calls (HAProxy's and nginx's model). A proxied connection costs no
// goroutine and, while idle, no buffer and no pipe: a flow struct and its
// two sockets. Every listening socket is registered in every loop with
// EPOLLEXCLUSIVE, so the kernel hands each new connection to one loop,
// which owns it for its whole life. Other goroutines reach a loop only
// through its control queue (an eventfd wakes it).
type engine struct {
	loops     []*loop
	busyUntil atomic.Int64 // unix nanos: a loop handled events less than busyWindow before
}

var (
	engineOnce sync.Once
	theEngine  *engine
	engineErr  error
	// startedLoops is the engine's number of loops once it runs.
	startedLoops atomic.Int32
)

// sharedEngine returns the process-wide engine, starting it on first use:
// one loop per GOMAXPROCS (or $PRIVLINK_PROXY_LOOPS), and GOMAXPROCS raised
// by one (see wait). Its loops live as long as the process; idle, they
// sleep in epoll_wait.
func sharedEngine() (*engine, error) {
	engineOnce.Do(func() {
		n := engineLoops()
		theEngine, engineErr = newEngine(n)
		if engineErr == nil {
			startedLoops.Store(int32(n))
			runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), n+1))
		}
	})
	return theEngine, engineErr
}

// engineLoops is the number of loops the engine has or will have.
func engineLoops() int {
	if n := startedLoops.Load(); n > 0 {
		return int(n)
	}
	n := runtime.GOMAXPROCS(0)
	if v, err := strconv.Atoi(os.Getenv("PRIVLINK_PROXY_LOOPS")); err == nil && v > 0 {
		n = v
	}
	return n
}

func newEngine(n int) (*engine, error) {
	e := &engine{}
	for range n {
		lp, err := newLoop(e)
		if err != nil {
			for _, lp := range e.loops {
				lp.closeFDs()
			}
			return nil, err
		}
		e.loops = append(e.loops, lp)
	}
	for _, lp := range e.loops {
		go lp.run()
	}
	return e, nil
}

// onEveryLoop runs fn on every loop and waits until all have run it.
func (e *engine) onEveryLoop(fn func(lp *loop) error) error {
	errs := make([]error, len(e.loops))
	var wg sync.WaitGroup
	for i, lp := range e.loops {
		wg.Add(1)
		lp.do(func() {
			defer wg.Done()
			errs[i] = fn(lp)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// attach starts accepting on the listening socket fd for l.
func (e *engine) attach(l *Listener, fd int) error {
	return e.attachMany([]*Listener{l}, []int{fd})[0]
}

// attachMany starts accepting on each listening socket fds[i] for ls[i]
// in one task per loop (not one per socket); errs[i] is ls[i]'s, whose
// socket is detached again.
func (e *engine) attachMany(ls []*Listener, fds []int) []error {
	errs := make([]error, len(ls))
	var mu sync.Mutex // the loops run the task at once
	_ = e.onEveryLoop(func(lp *loop) error {
		for i, fd := range fds {
			if err := lp.register(fd, &acceptor{l: ls[i], fd: fd}, unix.EPOLLIN|unix.EPOLLEXCLUSIVE); err != nil {
				mu.Lock()
				errs[i] = fmt.Errorf("proxy: register listener: %w", err)
				mu.Unlock()
			}
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			e.detach(ls[i], fds[i])
		}
	}
	return errs
}

// detach stops accepting on fd and closes every flow of l; it returns the
// number of flows closed. The caller closes fd afterwards.
func (e *engine) detach(l *Listener, fd int) int {
	var closed atomic.Int64
	_ = e.onEveryLoop(func(lp *loop) error {
		lp.unaccept(l, fd)
		for i := 0; i < len(lp.flows); {
			if f := lp.flows[i]; f.l == l {
				f.close(lp, nil) // swaps the last flow into i
				closed.Add(1)
				continue
			}
			i++
		}
		return nil
	})
	return int(closed.Load())
}

// unaccept removes l's registration of fd from the loop, stalled or not.
func (lp *loop) unaccept(l *Listener, fd int) {
	if s := lp.slot(fd); s != nil {
		if a, ok := s.h.(*acceptor); ok && a.l == l {
			lp.unregister(fd)
		}
	}
	lp.stalled = slices.DeleteFunc(lp.stalled, func(a *acceptor) bool { return a.l == l })
}

const (
	maxEvents  = 256
	idleSweep  = time.Hour             // next sweep when nothing is due
	stallPause = 10 * time.Millisecond // a listener's pause after a resource error
	freeBufs   = 512                   // idle read buffers kept per loop
	freePipes  = 64                    // idle splice pipes kept per loop
	pipeSize   = 1 << 20
)

// handler receives the epoll events of a registered descriptor.
type handler interface {
	event(lp *loop, fd int, ev uint32)
}

// slot is the registration of one descriptor in a loop. gen tells a stale
// event (for a descriptor closed and reused within one epoll_wait batch, or
// kept alive by a forked child) from a current one.
type slot struct {
	h   handler
	gen uint32
}

type loop struct {
	e          *engine
	epfd, evfd int
	load       atomic.Int64 // flows owned, including ones handed over but not yet admitted

	mu  sync.Mutex
	ctl []func()

	// Owned by the loop goroutine.
	slots     []slot // by descriptor
	gen       uint32
	flows     []*flow // live flows, for sweeps and Listener.Close
	bufs      []*[]byte
	pipes     [][2]int
	now       time.Time
	nextSweep time.Time   // earliest deadline of any flow or stalled listener
	yielded   time.Time   // last runtime.Gosched
	stalled   []*acceptor // listeners paused after a resource error
}

func newLoop(e *engine) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("proxy: epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("proxy: eventfd: %w", err)
	}
	lp := &loop{e: e, epfd: epfd, evfd: evfd, now: time.Now()}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		lp.closeFDs()
		return nil, fmt.Errorf("proxy: epoll_ctl eventfd: %w", err)
	}
	return lp, nil
}

func (lp *loop) closeFDs() {
	unix.Close(lp.evfd)
	unix.Close(lp.epfd)
}

// do queues fn to run on the loop goroutine and returns at once.
func (lp *loop) do(fn func()) {
	lp.mu.Lock()
	lp.ctl = append(lp.ctl, fn)
	wake := len(lp.ctl) == 1
	lp.mu.Unlock()
	if wake {
		one := [8]byte{1}
		_, _ = unix.Write(lp.evfd, one[:])
	}
}

func (lp *loop) runControl() {
	var b [8]byte
	_, _ = unix.Read(lp.evfd, b[:])
	lp.mu.Lock()
	q := lp.ctl
	lp.ctl = nil
	lp.mu.Unlock()
	for _, fn := range q {
		fn()
	}
}

func (lp *loop) run() {
	events := make([]unix.EpollEvent, maxEvents)
	lp.nextSweep = lp.now.Add(idleSweep)
	for {
		n, err := unix.EpollWait(lp.epfd, events, lp.timeout())
		lp.now = time.Now()
		if n > 0 {
			lp.e.markBusy(lp.now)
		}
		if lp.now.Sub(lp.yielded) >= yieldEvery {
			lp.yielded = lp.now
			runtime.Gosched()
		}
		if err != nil && err != unix.EINTR {
			// Only a broken epoll descriptor gets here; do not spin.
			slog.Error("proxy: epoll_wait failed", "err", err)
			time.Sleep(100 * time.Millisecond)
		}
		for i := range n {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == lp.evfd {
				lp.runControl()
				continue
			}
			if s := lp.slot(fd); s != nil && s.h != nil && s.gen == uint32(ev.Pad) {
				s.h.event(lp, fd, ev.Events)
			}
		}
		if !lp.now.Before(lp.nextSweep) {
			lp.sweep()
		}
	}
}

// maxBusyWait bounds epoll_wait while the engine is busy.
//
// A goroutine blocked in a system call holds its P; the runtime's sysmon
// takes such a P away after 20 µs unless a P is idle and the call is
// younger than 10 ms, and a loop that lost its P pays a thread hand-off
// (futex) to get one back, while sysmon keeps polling every 20 µs. With
// GOMAXPROCS = loops + 1 (sharedEngine) and waits shorter than 10 ms while
// any loop has handled events in the last busyWindow, a busy engine never
// loses its Ps: measured on 2 vCPUs with one connection at a time, 23% less
// CPU per proxied connection and 7x fewer futex calls. An idle engine
// (even one holding idle connections) blocks until its next deadline.
const (
	maxBusyWait = 9 * time.Millisecond
	busyWindow  = 100 * time.Millisecond
)

// yieldEvery: a loop calls runtime.Gosched this often. A goroutine that
// only ever makes system calls never passes through the scheduler, so after
// 10 ms sysmon treats it as running too long: it signals the thread
// (preemption) or, if it is in epoll_wait, takes its P away, and then polls
// every 20 µs for a while. Yielding first keeps sysmon asleep.
const yieldEvery = 5 * time.Millisecond

// markBusy extends the busy window (a shared write at most every 10 ms).
func (e *engine) markBusy(now time.Time) {
	until := now.Add(busyWindow).UnixNano()
	if until-e.busyUntil.Load() > int64(maxBusyWait) {
		e.busyUntil.Store(until)
	}
}

// timeout is the epoll_wait timeout in milliseconds.
func (lp *loop) timeout() int {
	d := lp.nextSweep.Sub(lp.now)
	if lp.now.UnixNano() < lp.e.busyUntil.Load() {
		d = min(d, maxBusyWait)
	}
	return max(int(d/time.Millisecond)+1, 0)
}

func (lp *loop) slot(fd int) *slot {
	if fd < 0 || fd >= len(lp.slots) {
		return nil
	}
	return &lp.slots[fd]
}

// register adds fd to the loop's epoll set with handler h.
func (lp *loop) register(fd int, h handler, events uint32) error {
	if fd >= len(lp.slots) {
		lp.slots = append(lp.slots, make([]slot, fd+1-len(lp.slots)+len(lp.slots)/2)...)
	}
	lp.gen++
	if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(lp.gen)}); err != nil {
		return err
	}
	lp.slots[fd] = slot{h: h, gen: lp.gen}
	return nil
}

// unregister removes fd from the epoll set and forgets its handler, for a
// descriptor that stays open (a listening socket shared by the loops).
func (lp *loop) unregister(fd int) {
	_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if s := lp.slot(fd); s != nil {
		*s = slot{}
	}
}

// closeFD closes a descriptor registered by this loop (which removes it
// from the epoll set) and forgets its handler.
func (lp *loop) closeFD(fd int) {
	if s := lp.slot(fd); s != nil {
		*s = slot{}
	}
	unix.Close(fd)
}

// sweepBy makes the loop sweep no later than t.
func (lp *loop) sweepBy(t time.Time) {
	if t.Before(lp.nextSweep) {
		lp.nextSweep = t
	}
}

// sweep resumes stalled listeners, runs each flow's checks (dial timeout,
// bandwidth wait, idle timeout, live byte counts) and schedules the next
// sweep at the earliest deadline. A loop without flows sleeps until
// something happens.
func (lp *loop) sweep() {
	now := lp.now
	lp.nextSweep = now.Add(idleSweep)
	for _, a := range lp.stalled {
		a.resume(lp)
	}
	lp.stalled = lp.stalled[:0]
	for i := 0; i < len(lp.flows); {
		f := lp.flows[i]
		f.check(lp, now)
		if f.closed {
			continue // close swapped another flow into i
		}
		lp.sweepBy(f.nextCheck(now))
		i++
	}
}

// getBuf returns a read buffer from the loop's free list.
func (lp *loop) getBuf() *[]byte {
	if n := len(lp.bufs); n > 0 {
		b := lp.bufs[n-1]
		lp.bufs = lp.bufs[:n-1]
		return b
	}
	b := make([]byte, smallBufSize)
	return &b
}

func (lp *loop) putBuf(b *[]byte) {
	if len(lp.bufs) < freeBufs {
		lp.bufs = append(lp.bufs, b)
	}
}

// getPipe returns an empty splice pipe from the free list or a new one.
func (lp *loop) getPipe() ([2]int, error) {
	if n := len(lp.pipes); n > 0 {
		p := lp.pipes[n-1]
		lp.pipes = lp.pipes[:n-1]
		return p, nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return p, err
	}
	// A larger pipe moves more per splice(2); best effort.
	_, _ = unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, pipeSize)
	return p, nil
}

// putPipe keeps an empty pipe for reuse; a pipe that still holds data is
// closed.
func (lp *loop) putPipe(p [2]int, empty bool) {
	if empty && len(lp.pipes) < freePipes {
		lp.pipes = append(lp.pipes, p)
		return
	}
	unix.Close(p[0])
	unix.Close(p[1])
}
