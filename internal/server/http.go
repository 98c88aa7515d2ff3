package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveHTTP starts the listeners the config names: the tenants' port
// (Listen: the API under /v1/, the console, /healthz, /readyz; over TLS
// when configured) and the management listener (MetricsListen: /metrics,
// /healthz, /readyz, optionally /debug/pprof/).
func (s *Server) serveHTTP(reg *prometheus.Registry) error {
	if s.cfg.Listen != "" {
		tlsCfg, err := s.loadTLS()
		if err != nil {
			return err
		}
		if s.ln, err = net.Listen("tcp", s.cfg.Listen); err != nil {
			return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
		}
		s.http = s.httpServer(s.apiMux())
		s.http.TLSConfig = tlsCfg
		s.goServe(s.http, s.ln, tlsCfg != nil)
	}
	if s.cfg.MetricsListen != "" {
		var err error
		if s.mgmtLn, err = s.handedListener(mgmtKey(s.cfg.MetricsListen)); err != nil {
			return fmt.Errorf("management listener handed over: %w", err)
		}
		if s.mgmtLn == nil {
			s.mgmtLn, err = net.Listen("tcp", s.cfg.MetricsListen)
		}
		if err != nil {
			return fmt.Errorf("management listener --metrics-listen %s (give another address): %w", s.cfg.MetricsListen, err)
		}
		s.keepMgmt()
		s.mgmt = s.httpServer(s.mgmtMux(reg))
		s.goServe(s.mgmt, s.mgmtLn, false)
	}
	return nil
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		// TLS handshake failures (a client that does not trust the
		// certificate) are the client's to report.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
}

func (s *Server) goServe(srv *http.Server, ln net.Listener, overTLS bool) {
	s.goRun(func() {
		var err error
		if overTLS {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http serve", "addr", ln.Addr().String(), "err", err)
		}
	})
}

// health adds /healthz and /readyz, served on both listeners.
func (s *Server) health(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

// apiMux is the tenants' port: no /metrics, no profiler.
func (s *Server) apiMux() *http.ServeMux {
	mux := http.NewServeMux()
	s.health(mux)
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

// mgmtMux is the management listener.
func (s *Server) mgmtMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.health(mux)
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// minTLS is the oldest TLS version the API accepts.
const minTLS = tls.VersionTLS12
