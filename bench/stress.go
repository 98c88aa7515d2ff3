package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The overload and soak loads (children in consumer hosts, like loads.go):
// paced probes of a victim, the flood of an attacker, and the soak's many
// long-lived connections with steady traffic.

// loadPaced starts one connect + 64 B round trip + close every interval
// (the next right away when one takes longer) for dur: latency under
// whatever else happens meanwhile, at a rate too low to be a load itself.
func loadPaced(target string, interval, dur time.Duration) (loadResult, error) {
	addr := withPort(target, portEcho)
	return workers(1, dur, func(lat *[]int64, errs *errCounter, deadline time.Time) int64 {
		var ops int64
		req, resp := make([]byte, msgSize), make([]byte, msgSize)
		for next := time.Now(); next.Before(deadline); {
			time.Sleep(time.Until(next))
			t0 := time.Now()
			next = t0.Add(interval)
			c, err := dialer.Dial("tcp4", addr)
			if err != nil {
				errs.add(err)
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

// floodConfig bounds one flood: churn workers, connections held, SYNs.
type floodConfig struct {
	target  string // ip (ports: portEcho)
	src     string // this host's IP: the raw SYNs' source
	churn   int    // workers doing connect, 64 B round trip, close, in a loop
	hold    int    // connections opened and held open, at most
	syns    int    // raw SYNs to send, at most
	synRate int    // per second
	dur     time.Duration
}

// loadFlood floods target:portEcho for dur with cfg's three floods at
// once. Failures are the point (limits refusing it), so they are counted,
// not returned. Ops = churned connections, Conns = held, Syns = sent.
func loadFlood(cfg floodConfig) (loadResult, error) {
	addr := withPort(cfg.target, portEcho)
	deadline := time.Now().Add(cfg.dur)
	var errs errCounter
	var ops, held, syns atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var holds []net.Conn
	defer func() {
		for _, c := range holds {
			c.Close()
		}
	}()
	for range min(cfg.hold, 32) { // holders
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && held.Add(1) <= int64(cfg.hold) {
				c, err := dialer.Dial("tcp4", addr)
				if err != nil {
					held.Add(-1)
					errs.add(err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				holds = append(holds, c)
				mu.Unlock()
			}
		}()
	}
	for range cfg.churn {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, msgSize)
			for time.Now().Before(deadline) {
				c, err := dialer.Dial("tcp4", addr)
				if err != nil {
					errs.add(err)
					time.Sleep(time.Millisecond)
					continue
				}
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err = c.Write(buf); err == nil {
					_, err = io.ReadFull(c, buf)
				}
				c.Close()
				if err != nil {
					errs.add(err)
					continue
				}
				ops.Add(1)
			}
		}()
	}
	var synErr error
	if cfg.syns > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			synErr = synFlood(cfg, deadline, &syns)
		}()
	}
	wg.Wait()
	res := loadResult{Ops: ops.Load(), Conns: int(min(held.Load(), int64(cfg.hold))), Syns: syns.Load(), Seconds: cfg.dur.Seconds()}
	errs.fill(&res)
	return res, synErr
}

// synFlood sends bare SYNs from random source ports of cfg.src to
// cfg.target:portEcho through a raw socket, at cfg.synRate per second, until
// cfg.syns are sent or deadline: half-open connections the listener must
// survive (the host's own stack answers the SYN-ACKs with RSTs).
func synFlood(cfg floodConfig, deadline time.Time, sent *atomic.Int64) error {
	src, err := netip.ParseAddr(cfg.src)
	if err != nil {
		return fmt.Errorf("syn flood: source %q: %w", cfg.src, err)
	}
	dst, err := netip.ParseAddr(cfg.target)
	if err != nil {
		return fmt.Errorf("syn flood: target %q: %w", cfg.target, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_TCP)
	if err != nil {
		return fmt.Errorf("syn flood: raw socket: %w", err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrInet4{Addr: dst.As4()}
	const batch = 100
	tick := time.Duration(float64(time.Second) * batch / float64(max(cfg.synRate, 1)))
	for n := 0; n < cfg.syns && time.Now().Before(deadline); {
		t0 := time.Now()
		for i := 0; i < batch && n < cfg.syns; i++ {
			pkt := synPacket(src.As4(), dst.As4(), uint16(20000+rand.IntN(40000)), portEcho, rand.Uint32())
			if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
				return fmt.Errorf("syn flood: send: %w", err)
			}
			n++
			sent.Add(1)
		}
		time.Sleep(tick - time.Since(t0))
	}
	return nil
}

// synPacket is a 20-byte TCP header with SYN set and a valid checksum.
func synPacket(src, dst [4]byte, sport, dport uint16, seq uint32) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], seq)
	h[12] = 5 << 4 // data offset: 5 words
	h[13] = 0x02   // SYN
	binary.BigEndian.PutUint16(h[14:], 64240)
	var sum uint32
	pseudo := slices.Concat(src[:], dst[:], []byte{0, unix.IPPROTO_TCP, 0, 20}, h)
	for i := 0; i < len(pseudo); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(pseudo[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(h[16:], ^uint16(sum))
	return h
}

// loadSoak opens count connections to target:portEcho (32 dialers), prints
// "READY <open> <errors>", then has every connection do one 64 B round trip
// per period (staggered) for dur, and returns the round trips, their p50
// and p99 and every error (a soak wants none).
func loadSoak(target string, count int, period, dur time.Duration) (loadResult, error) {
	addr := withPort(target, portEcho)
	conns := make([]net.Conn, count)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var errs errCounter
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(count); i = next.Add(1) - 1 {
				c, err := dialer.Dial("tcp4", addr)
				if err != nil {
					errs.add(err)
					continue
				}
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
	fmt.Printf("READY %d %d\n", open, errs.n.Load())
	var ops atomic.Int64
	lats := make([][]int64, count)
	start := time.Now()
	deadline := start.Add(dur)
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, msgSize)
			// Staggered: connection i's first round trip at i/count of a period.
			at := start.Add(time.Duration(int64(period) * int64(i) / int64(count)))
			for ; at.Before(deadline); at = at.Add(period) {
				time.Sleep(time.Until(at))
				t0 := time.Now()
				_ = c.SetDeadline(t0.Add(10 * time.Second))
				_, err := c.Write(buf)
				if err == nil {
					_, err = io.ReadFull(c, buf)
				}
				if err != nil {
					errs.add(err)
					return
				}
				ops.Add(1)
				lats[i] = append(lats[i], int64(time.Since(t0)))
			}
		}()
	}
	wg.Wait()
	res := loadResult{Ops: ops.Load(), Seconds: time.Since(start).Seconds(), Conns: open}
	res.P50us, res.P99us = percentiles(slices.Concat(lats...))
	errs.fill(&res)
	return res, nil
}
