package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// UDP rows (opt-in: --only udp): UDP request/response and UDP bulk
// through privlink's UDP endpoint port against the direct path and nginx
// stream's UDP proxy (`listen ... udp reuseport`), all to the UDP echo
// server of the server host on portEcho. HAProxy has no UDP proxy.
//
//   - udp-rr: 64 B request, 64 B reply, one outstanding per socket;
//   - udp-bulk: 1400 B datagrams echoed, 64 outstanding per socket, 4
//     sockets; Gbit/s of payload echoed back (each direction carries it);
//   - udp-loss: datagrams not answered within 200 ms in udp-bulk, % sent.

var udpPaths = []string{pathDirect, pathPrivlink, pathNginx}

const (
	udpBulkSize, udpBulkWindow, udpBulkSockets = 1400, 64, 4
	udpTimeout                                 = 200 * time.Millisecond
)

func udpRows(cfg Config) []rowDef {
	if !cfg.optIn("udp") {
		return nil
	}
	return []rowDef{
		{"udp-rr-c1", "UDP 64 B request/response, 1 socket", "rt/s", true, udpPaths, "udp"},
		{"udp-rr-c1-p99", "UDP 64 B request/response, 1 socket, p99", "µs", false, udpPaths, "udp"},
		{"udp-rr-c32", "UDP 64 B request/response, 32 sockets", "rt/s", true, udpPaths, "udp"},
		{"udp-rr-c32-p99", "UDP 64 B request/response, 32 sockets, p99", "µs", false, udpPaths, "udp"},
		{"udp-bulk", fmt.Sprintf("UDP bulk: %d B datagrams echoed, %d in flight × %d sockets", udpBulkSize, udpBulkWindow, udpBulkSockets), "Gbit/s", true, udpPaths, "udp"},
		{"udp-loss", "UDP bulk: datagrams unanswered within 200 ms", "% sent", false, udpPaths, "udp"},
		{"cpu-udp", "proxy CPU per UDP round trip (32 sockets)", "CPU µs/rt", false, []string{pathPrivlink, pathNginx}, "udp"},
	}
}

// runUDP measures the UDP rows on each UDP-capable path.
func (h *harness) runUDP(ctx context.Context) {
	if !h.cfg.optIn("udp") {
		return
	}
	for run := 1; run <= h.cfg.Runs && ctx.Err() == nil; run++ {
		for _, p := range h.paths {
			if p.name == pathHAProxy {
				continue
			}
			for _, w := range []struct {
				row           string
				conc, size, n int
			}{{"udp-rr-c1", 1, msgSize, 1}, {"udp-rr-c32", 32, msgSize, 1}, {"udp-bulk", udpBulkSockets, udpBulkSize, udpBulkWindow}} {
				res, cpu, _, err := h.measure(ctx, p, h.cfg.Duration, "--mode", "udp", "--conc", strconv.Itoa(w.conc),
					"--size", strconv.Itoa(w.size), "--window", strconv.Itoa(w.n))
				what := fmt.Sprintf("%s %s (run %d)", w.row, p.name, run)
				if err != nil {
					h.rep.addError(what, err)
					continue
				}
				if res.Ops == 0 {
					h.rep.addError(what, fmt.Errorf("no reply: %s", res.FirstErr))
					continue
				}
				switch w.row {
				case "udp-bulk":
					h.rep.add("udp-bulk", p.name, float64(res.Bytes)*8/res.Seconds/1e9)
					h.rep.add("udp-loss", p.name, float64(res.Errors)/float64(res.Ops+res.Errors)*100)
				default:
					h.rep.add(w.row, p.name, rate(res))
					h.rep.add(w.row+"-p99", p.name, res.P99us)
					if w.row == "udp-rr-c32" && p.name != pathDirect {
						h.rep.add("cpu-udp", p.name, cpu/float64(res.Ops)*1e6)
					}
				}
				slog.Info("measured", "workload", w.row, "path", p.name, "run", run, "ops", res.Ops, "lost", res.Errors)
			}
		}
	}
}

// serveUDPEcho echoes every datagram on port until stdin closes (the
// serve child's UDP echo; one reader per core).
func serveUDPEcho(port int) (stop func(), err error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
	if err != nil {
		return nil, err
	}
	for range nproc() {
		go func() {
			buf := make([]byte, 65535)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				_, _ = c.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
	}
	return func() { c.Close() }, nil
}

// loadUDP: conc connected UDP sockets to target's echo port, each keeping
// window datagrams of size bytes outstanding; a datagram unanswered within
// 200 ms counts as lost (Errors) and is replaced. Ops are replies, Bytes
// their payload; latencies only with window 1.
func loadUDP(target string, conc, size, window int, dur time.Duration) (loadResult, error) {
	if size < 8 || size > 65000 || window < 1 || window > 1024 {
		return loadResult{}, errors.New("udp: size 8..65000, window 1..1024")
	}
	addr := withPort(target, portEcho)
	var lost, bytes atomic.Int64
	var mu sync.Mutex
	var firstErr string
	res, err := workers(conc, dur, func(lat *[]int64, errs *errCounter, deadline time.Time) int64 {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			errs.add(err)
			return 0
		}
		defer c.Close()
		var ops int64
		var seq uint64
		out := make([]byte, size)
		in := make([]byte, size+64)
		sent := map[uint64]time.Time{}
		for time.Now().Before(deadline) {
			for len(sent) < window {
				seq++
				binary.BigEndian.PutUint64(out, seq)
				if _, err := c.Write(out); err != nil {
					errs.add(err)
					return ops
				}
				sent[seq] = time.Now()
			}
			_ = c.SetReadDeadline(time.Now().Add(udpTimeout))
			n, err := c.Read(in)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					lost.Add(int64(len(sent)))
					clear(sent)
					mu.Lock()
					if firstErr == "" {
						firstErr = "no reply within 200 ms"
					}
					mu.Unlock()
					continue
				}
				errs.add(err)
				return ops
			}
			if n < 8 {
				continue
			}
			t0, ok := sent[binary.BigEndian.Uint64(in)]
			if !ok {
				continue // a late reply to a datagram counted lost
			}
			delete(sent, binary.BigEndian.Uint64(in))
			ops++
			bytes.Add(int64(n))
			if window == 1 {
				*lat = append(*lat, int64(time.Since(t0)))
			}
		}
		return ops
	})
	res.Bytes, res.Errors = bytes.Load(), res.Errors+lost.Load()
	if res.FirstErr == "" {
		res.FirstErr = firstErr
	}
	return res, err
}
