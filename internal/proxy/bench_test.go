package proxy

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// Benchmarks run every workload against:
//
//	direct  the backend itself (the kernel loopback path, the lower bound)
//	proxy   this package, splicing
//
// plus any external proxy listed in PRIVLINK_BENCH_EXTERNAL as
// "name=host:port,..." (e.g. haproxy or nginx stream) forwarding to the
// benchmark backend, whose address PRIVLINK_BENCH_BACKEND pins
// (default 127.0.0.1:0). Each workload uses its own backend handler, so an
// external proxy must forward to the backend of the benchmark being run.

type benchTarget struct{ name, addr string }

func benchSetup(b *testing.B, handler func(net.Conn)) []benchTarget {
	b.Helper()
	backend := startBenchServer(b, handler)
	cfg := Config{EndpointID: "ep-bench", ZoneID: "a", Backends: []Backend{{ZoneID: "a", Addr: backend}}}
	_, proxyAddr := startProxy(b, cfg, nil, nil)
	targets := []benchTarget{{"direct", backend.String()}, {"proxy", proxyAddr}}
	if ext := os.Getenv("PRIVLINK_BENCH_EXTERNAL"); ext != "" {
		for _, kv := range strings.Split(ext, ",") {
			name, addr, _ := strings.Cut(kv, "=")
			targets = append(targets, benchTarget{name, addr})
		}
	}
	return targets
}

func startBenchServer(b *testing.B, handler func(net.Conn)) netip.AddrPort {
	addr := os.Getenv("PRIVLINK_BENCH_BACKEND")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handler(c)
			}()
		}
	}()
	b.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// sink reads everything with a large buffer, then closes.
func sink(c net.Conn) {
	buf := make([]byte, 256<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// userEcho echoes with plain reads and writes.
func userEcho(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// BenchmarkProxyThroughput streams 1 MiB writes over one connection into a
// sink; the time includes the sink reading the last byte.
func BenchmarkProxyThroughput(b *testing.B) {
	const chunk = 1 << 20
	for _, tg := range benchSetup(b, sink) {
		b.Run(tg.name, func(b *testing.B) {
			c, err := net.Dial("tcp", tg.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil { // EOF once the sink has all bytes
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkProxyConnRate opens a connection, exchanges one byte each way and
// closes it, from several goroutines.
func BenchmarkProxyConnRate(b *testing.B) {
	for _, tg := range benchSetup(b, userEcho) {
		b.Run(tg.name, func(b *testing.B) {
			b.SetParallelism(4)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var one [1]byte
				for pb.Next() {
					c, err := net.Dial("tcp", tg.addr)
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := c.Write(one[:]); err != nil {
						b.Error(err)
					}
					if _, err := io.ReadFull(c, one[:]); err != nil {
						b.Error(err)
					}
					c.Close()
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
		})
	}
}

// BenchmarkPingPong measures the round trip of a 64-byte message over one
// established connection.
func BenchmarkPingPong(b *testing.B) {
	for _, tg := range benchSetup(b, userEcho) {
		b.Run(tg.name, func(b *testing.B) {
			c, err := net.Dial("tcp", tg.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var msg [64]byte
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(msg[:]); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, msg[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdmit is the per-connection cost of the limits: admission and
// release against one endpoint's shared state and the budget, from all
// CPUs at once (the event loops), with and without a rate limit.
func BenchmarkAdmit(b *testing.B) {
	for _, rate := range []int{0, 1 << 30} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			bud := NewBudget(1 << 30)
			ep := bud.endpoint("ep-bench")
			ep.configure(Config{NewConnsPerSec: rate})
			now := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if bud.admit(ep, now) != admitted {
						b.Fatal("refused")
					}
					bud.done(ep)
				}
			})
		})
	}
}
