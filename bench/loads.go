package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// The load generators run in the client host: one workload per process,
// bounded by --dur (idle: by its hold timeout); the result is JSON on stdout.

func loadMain(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	mode := fs.String("mode", "", "bulk | short | pingpong | idle | dns | paced | flood | soak | udp")
	target := fs.String("target", "", "ip:port")
	conc := fs.Int("conc", 1, "streams or concurrent connections/workers")
	dir := fs.String("dir", "up", "bulk direction: up (client->server) or down")
	dur := fs.Duration("dur", 3*time.Second, "measured duration")
	count := fs.Int("count", 1000, "idle: connections to hold")
	name := fs.String("name", "", "dns: name to query (A)")
	interval := fs.Duration("interval", 10*time.Millisecond, "paced: time between probes")
	period := fs.Duration("period", 10*time.Second, "soak: time between one connection's round trips")
	src := fs.String("src", "", "flood: this host's IP (source of the raw SYNs)")
	hold := fs.Int("hold", 0, "flood: connections to open and hold")
	syns := fs.Int("syns", 0, "flood: raw SYNs to send")
	synRate := fs.Int("syn-rate", 10000, "flood: SYNs per second")
	size := fs.Int("size", msgSize, "udp: datagram size")
	window := fs.Int("window", 1, "udp: datagrams in flight per socket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conc < 1 || *conc > 4096 || *dur <= 0 || *dur > 30*time.Minute || *count < 1 || *count > 100000 ||
		*interval < time.Millisecond || *period < 100*time.Millisecond || *hold < 0 || *hold > 50000 || *syns < 0 || *syns > 1000000 || *synRate < 1 || *synRate > 100000 {
		return errors.New("conc, dur or count out of bounds")
	}
	var res loadResult
	var err error
	switch *mode {
	case "bulk":
		res, err = loadBulk(*target, *conc, *dir == "down", *dur)
	case "short":
		res, err = loadShort(*target, *conc, *dur)
	case "pingpong":
		res, err = loadPingPong(*target, *conc, *dur)
	case "idle":
		res, err = loadIdle(*target, *count)
	case "dns":
		res, err = loadDNS(*target, *name, *conc, *dur)
	case "paced":
		res, err = loadPaced(*target, *interval, *dur)
	case "flood":
		res, err = loadFlood(floodConfig{target: *target, src: *src, churn: *conc, hold: *hold, syns: *syns, synRate: *synRate, dur: *dur})
	case "soak":
		res, err = loadSoak(*target, *count, *period, *dur)
	case "udp":
		res, err = loadUDP(*target, *conc, *size, *window, *dur)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		return err
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.CPUSeconds = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

var dialer = net.Dialer{Timeout: 3 * time.Second, KeepAlive: -1}

// errCounter counts errors and keeps the first one.
type errCounter struct {
	n     atomic.Int64
	once  sync.Once
	first string
}

func (e *errCounter) add(err error) {
	e.n.Add(1)
	e.once.Do(func() { e.first = err.Error() })
}

func (e *errCounter) fill(r *loadResult) {
	r.Errors = e.n.Load()
	if r.Errors > 0 {
		r.FirstErr = e.first
	}
}

// loadBulk moves bytes over n streams for dur. Up: bytes written (what
// sits in socket buffers at the end is < 0.1% of a run); down: bytes read.
func loadBulk(target string, n int, down bool, dur time.Duration) (loadResult, error) {
	port := portSink
	if down {
		port = portSource
	}
	addr := withPort(target, port)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := dialer.Dial("tcp", addr)
		if err != nil {
			return loadResult{}, err
		}
		conns = append(conns, c)
	}
	var total atomic.Int64
	var errs errCounter
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 128<<10)
			var err error
			for err == nil {
				var k int
				if down {
					_ = c.SetReadDeadline(deadline)
					k, err = c.Read(buf)
				} else {
					_ = c.SetWriteDeadline(deadline)
					k, err = c.Write(buf)
				}
				total.Add(int64(k))
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				errs.add(err)
			}
		}()
	}
	wg.Wait()
	res := loadResult{Bytes: total.Load(), Seconds: time.Since(start).Seconds(), Conns: n}
	errs.fill(&res)
	return res, nil
}

// loadShort runs conc workers doing connect, 64 B request, 64 B reply,
// close, for dur.
func loadShort(target string, conc int, dur time.Duration) (loadResult, error) {
	addr := withPort(target, portEcho)
	return workers(conc, dur, func(lat *[]int64, errs *errCounter, deadline time.Time) int64 {
		var ops int64
		req, resp := make([]byte, msgSize), make([]byte, msgSize)
		for t0 := time.Now(); t0.Before(deadline); t0 = time.Now() {
			c, err := dialer.Dial("tcp", addr)
			if err != nil {
				errs.add(err)
				time.Sleep(time.Millisecond)
				continue
			}
			_ = c.SetDeadline(t0.Add(5 * time.Second))
			if _, err = c.Write(req); err == nil {
				_, err = io.ReadFull(c, resp)
			}
			c.Close()
			if err != nil {
				errs.add(err)
				continue
			}
			ops++
			*lat = append(*lat, int64(time.Since(t0)))
		}
		return ops
	})
}

// loadPingPong runs conc persistent connections, each sending 64 B and
// waiting for the 64 B echo, for dur.
func loadPingPong(target string, conc int, dur time.Duration) (loadResult, error) {
	addr := withPort(target, portEcho)
	conns := make([]net.Conn, conc)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		c, err := dialer.Dial("tcp", addr)
		if err != nil {
			return loadResult{}, err
		}
		conns[i] = c
	}
	var next atomic.Int32
	return workers(conc, dur, func(lat *[]int64, errs *errCounter, deadline time.Time) int64 {
		c := conns[next.Add(1)-1]
		_ = c.SetDeadline(deadline.Add(5 * time.Second))
		var ops int64
		buf := make([]byte, msgSize)
		for t0 := time.Now(); t0.Before(deadline); t0 = time.Now() {
			if _, err := c.Write(buf); err != nil {
				errs.add(err)
				return ops
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				errs.add(err)
				return ops
			}
			ops++
			*lat = append(*lat, int64(time.Since(t0)))
		}
		return ops
	})
}

// workers runs conc copies of fn until dur passes and merges their counts
// and latencies.
func workers(conc int, dur time.Duration, fn func(lat *[]int64, errs *errCounter, deadline time.Time) int64) (loadResult, error) {
	var errs errCounter
	var ops atomic.Int64
	lats := make([][]int64, conc)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for i := range conc {
		lats[i] = make([]int64, 0, 1<<14)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops.Add(fn(&lats[i], &errs, deadline))
		}()
	}
	wg.Wait()
	res := loadResult{Ops: ops.Load(), Seconds: time.Since(start).Seconds(), Conns: conc}
	res.P50us, res.P99us = percentiles(slices.Concat(lats...))
	errs.fill(&res)
	return res, nil
}

func percentiles(ns []int64) (p50, p99 float64) {
	if len(ns) == 0 {
		return 0, 0
	}
	slices.Sort(ns)
	at := func(q float64) float64 { return float64(ns[int(q*float64(len(ns)-1))]) / 1e3 }
	return at(0.50), at(0.99)
}

// loadIdle opens count connections (each carries one 64 B round trip, so it
// is established end to end), reports "READY <open> <errors>", holds them
// until a line arrives on stdin (at most 5 minutes), then closes them.
func loadIdle(target string, count int) (loadResult, error) {
	addr := withPort(target, portEcho)
	conns := make([]net.Conn, count)
	var errs errCounter
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, msgSize)
			for i := next.Add(1) - 1; i < int64(count); i = next.Add(1) - 1 {
				c, err := dialer.Dial("tcp", addr)
				if err != nil {
					errs.add(err)
					continue
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err = c.Write(buf); err == nil {
					_, err = io.ReadFull(c, buf)
				}
				if err != nil {
					errs.add(err)
					c.Close()
					continue
				}
				_ = c.SetDeadline(time.Time{})
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	res := loadResult{Seconds: time.Since(start).Seconds(), Conns: open, Ops: int64(open)}
	errs.fill(&res)
	fmt.Printf("READY %d %d\n", open, res.Errors)
	line := make(chan struct{})
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		close(line)
	}()
	select {
	case <-line:
	case <-time.After(5 * time.Minute):
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	return res, nil
}

// loadDNS runs conc workers, each on its own UDP socket, querying name (A)
// back to back for dur. A name "@FILE" is every name in FILE (one a
// line), each worker going round them from its own offset.
func loadDNS(server, name string, conc int, dur time.Duration) (loadResult, error) {
	if name == "" {
		return loadResult{}, errors.New("dns: --name is required")
	}
	names := []string{name}
	if file, ok := strings.CutPrefix(name, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			return loadResult{}, fmt.Errorf("dns: names: %w", err)
		}
		names = strings.Fields(string(b))
		if len(names) == 0 {
			return loadResult{}, fmt.Errorf("dns: no names in %s", file)
		}
	}
	var worker atomic.Int64
	return workers(conc, dur, func(lat *[]int64, errs *errCounter, deadline time.Time) int64 {
		next := int(worker.Add(1)) * len(names) / max(conc, 1)
		var ops int64
		var co *dns.Conn
		defer func() {
			if co != nil {
				co.Close()
			}
		}()
		m := new(dns.Msg)
		for t0 := time.Now(); t0.Before(deadline); t0 = time.Now() {
			m.SetQuestion(dns.Fqdn(names[next%len(names)]), dns.TypeA)
			next++
			if co == nil {
				var err error
				if co, err = dns.Dial("udp", server); err != nil {
					errs.add(err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
			}
			m.Id = dns.Id()
			_ = co.SetDeadline(t0.Add(time.Second))
			err := co.WriteMsg(m)
			var r *dns.Msg
			if err == nil {
				r, err = co.ReadMsg()
			}
			if err == nil && (r.Id != m.Id || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0) {
				err = fmt.Errorf("dns: bad answer: id %d/%d rcode %s, %d answers", r.Id, m.Id, dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			if err != nil {
				errs.add(err)
				co.Close()
				co = nil
				continue
			}
			ops++
			*lat = append(*lat, int64(time.Since(t0)))
		}
		return ops
	})
}

// withPort replaces the port of an ip[:port] target.
func withPort(target string, port int) string {
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
