package proxy

import (
	"net"
	"net/netip"
	"time"
)

// workerIdle is how long a pooled goroutine waits for new work before it
// exits.
const workerIdle = 10 * time.Second

// job is work for a pooled goroutine: a freshly admitted consumer connection
// (client != nil) or the backend->consumer copy of an established one
// (out != nil).
type job struct {
	client   net.Conn
	st       *state
	src, dst netip.AddrPort
	out      *pconn
}

// run hands j to an idle pooled goroutine, or starts a new one. Goroutines
// are reused because a fresh goroutine pays for creating and then growing
// its stack on the deep dial and splice paths of every connection. A
// connection on this path occupies exactly two goroutines while it lives.
func (l *Listener) run(j job) {
	select {
	case l.jobs <- j:
		return
	default:
	}
	l.wg.Add(1) // the caller holds a count (Serve or a worker): never races with Wait
	go l.worker(j)
}

func (l *Listener) worker(j job) {
	defer l.wg.Done()
	var idle *time.Timer
	for {
		if j.out != nil {
			j.out.copyOut()
		} else {
			l.handle(j.client, j.st, j.src, j.dst)
		}
		j = job{}
		if idle == nil {
			idle = time.NewTimer(workerIdle)
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case j = <-l.jobs:
		case <-idle.C:
			return
		case <-l.ctx.Done():
			return
		}
	}
}
