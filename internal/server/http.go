package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/privlink/privlink/internal/aliyun"
)

// serveHTTP starts the HTTP listener, if the config names one: /metrics,
// /healthz, /readyz, optionally /debug/pprof/, and on a server the API under
// /v1/, the Alibaba Cloud RPC API at / (internal/aliyun) and the console.
func (s *Server) serveHTTP(reg *prometheus.Registry) error {
	if s.cfg.Listen == "" {
		return nil
	}
	var err error
	if s.ln, err = net.Listen("tcp", s.cfg.Listen); err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	s.http = &http.Server{Handler: s.mux(reg), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	s.goRun(func() {
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http serve", "err", err)
		}
	})
	return nil
}

func (s *Server) mux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if s.API == nil {
		return mux
	}
	mux.Handle("/v1/", s.API)
	// The Alibaba Cloud RPC API at "/": POST (the SDK), or GET naming an
	// Action; a browser's GET / goes to the console.
	rpc := aliyun.New(aliyun.Config{API: s.API, Region: s.cfg.Region, Zones: s.cfg.Zones, Logger: s.log})
	var root http.Handler = http.NotFoundHandler()
	if s.cfg.Console != nil {
		mux.Handle("/console/", s.cfg.Console(s.API))
		root = http.RedirectHandler("/console/", http.StatusFound)
	}
	mux.Handle("/{$}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if aliyun.IsRPC(r) {
			rpc.ServeHTTP(w, r)
			return
		}
		root.ServeHTTP(w, r)
	}))
	return mux
}
