// Command benchproxy runs one proxy.Listener as a standalone process, so the
// package can be benchmarked out of process like HAProxy or nginx:
//
//	go run ./internal/proxy/internal/benchproxy -listen 127.0.0.1:20003 -backend 127.0.0.1:20000
//	PRIVLINK_BENCH_BACKEND=127.0.0.1:20000 PRIVLINK_BENCH_EXTERNAL=privlink=127.0.0.1:20003 \
//	    go test ./internal/proxy -run '^$' -bench .
package main

import (
	"context"
	"flag"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/privlink/privlink/internal/proxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:20003", "address to listen on")
	backend := flag.String("backend", "127.0.0.1:20000", "backend address")
	pp := flag.Bool("proxy-protocol", false, "send PROXY v2 headers")
	mbps := flag.Int("mbps", 0, "per-connection bandwidth cap")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until SIGTERM")
	flag.Parse()

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	b, err := netip.ParseAddrPort(*backend)
	if err != nil {
		fatal(err)
	}
	lc := proxy.ListenConfig()
	ln, err := lc.Listen(context.Background(), "tcp", *listen)
	if err != nil {
		fatal(err)
	}
	l := proxy.NewListener(ln, proxy.Config{
		EndpointID: "ep-bench", ServiceID: "epsrv-bench", VpcID: "vpc-bench", ZoneID: "a",
		Backends:      []proxy.Backend{{ZoneID: "a", Addr: b}},
		ProxyProtocol: *pp, ProxyTLVs: proxy.TLVSet{VpcID: true, EndpointID: true}, BandwidthMbps: *mbps,
	}, proxy.Dial, nil, proxy.NewMetrics(nil), proxy.WithSockets(proxy.Socket))
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		l.Close()
	}()
	if err := l.Serve(); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	slog.Error("benchproxy", "err", err)
	os.Exit(1)
}
