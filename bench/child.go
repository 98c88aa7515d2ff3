package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Children: the servers in the provider host (this file), the load
// generators (loads.go) and the probe (probe.go) in consumer hosts. A child
// is the bench binary itself, started by the harness with `ip netns exec NS
// <self>` and $PLBENCH_CHILD naming its role. Every child bounds its own run
// time and exits when its stdin closes, so nothing outlives the harness.

const msgSize = 64 // request and reply size of the small-message workloads

// loadResult is what a load child prints as JSON on stdout.
type loadResult struct {
	Ops      int64   `json:"ops"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	Errors   int64   `json:"errors"`
	FirstErr string  `json:"firstErr,omitempty"`
	P50us    float64 `json:"p50us"`
	P99us    float64 `json:"p99us"`
	Conns    int     `json:"conns"`
	Syns     int64   `json:"syns,omitempty"` // flood: raw SYNs sent
	// CPUSeconds is the load generator's own CPU time (user+system).
	CPUSeconds float64 `json:"cpuSeconds"`
}

// childMain runs the role named by $PLBENCH_CHILD and returns the exit code.
func childMain(role string, args []string) int {
	raiseNofile()
	var err error
	switch role {
	case "serve":
		err = serveMain(args)
	case "load":
		err = loadMain(args)
	case "probe":
		err = probeMain(args)
	default:
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "plbench %s: %v\n", role, err)
		return 1
	}
	return 0
}

// raiseNofile lifts RLIMIT_NOFILE as far as it can: soft and hard to 2^20
// when the process may raise its hard limit (CAP_SYS_RESOURCE), else the
// soft limit to the hard one. Children inherit it. It returns the limit.
func raiseNofile() uint64 {
	for _, n := range []uint64{1 << 20, 1 << 19, 1 << 17} {
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}) == nil {
			return n
		}
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	rl.Cur = rl.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Max
}

// exitOnStdinEOF returns a channel closed when stdin reaches EOF (the
// harness closed it or died).
func exitOnStdinEOF() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(ch)
	}()
	return ch
}

// serveMain runs the echo, sink and source servers until stdin closes.
func serveMain(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	echo := fs.Int("echo", portEcho, "echo port (64-byte request, 64-byte reply, repeated)")
	sink := fs.Int("sink", portSink, "sink port (reads and discards)")
	source := fs.Int("source", portSource, "source port (writes until the peer goes)")
	maxLife := fs.Duration("max-life", 2*time.Hour, "exit after this long in any case")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for _, s := range []struct {
		port int
		h    func(net.Conn)
	}{{*echo, serveEcho}, {*sink, serveSink}, {*source, serveSource}} {
		l, err := fastOpenListen(fmt.Sprintf("0.0.0.0:%d", s.port))
		if err != nil {
			return err
		}
		lns = append(lns, l)
		go acceptLoop(l, s.h)
	}
	stopUDP, err := serveUDPEcho(*echo)
	if err != nil {
		return err
	}
	defer stopUDP()
	fmt.Println("READY")
	select {
	case <-exitOnStdinEOF():
	case <-time.After(*maxLife):
	}
	return nil
}

func acceptLoop(l net.Listener, h func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond) // EMFILE and the like
			continue
		}
		go func() {
			defer c.Close()
			h(c)
		}()
	}
}

func serveEcho(c net.Conn) {
	buf := make([]byte, msgSize)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

func serveSink(c net.Conn) {
	buf := make([]byte, 256<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

func serveSource(c net.Conn) {
	buf := make([]byte, 128<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}
