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
)

// serveHTTP starts the HTTP listener, if the config names one: /metrics,
// /healthz, /readyz, optionally /debug/pprof/, and on a server the API under
// /v1/ and the console.
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
	if s.API != nil {
		mux.Handle("/v1/", s.API)
	}
	if s.cfg.Console != nil && s.API != nil {
		mux.Handle("/console/", s.cfg.Console(s.API))
		mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	}
	s.mountRPC(mux)
	return mux
}
