package sampledb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	gms "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/pires/go-proxyproto"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultListen             = ":6001"
	DefaultDatabase           = "demo"
	DefaultProxyHeaderTimeout = 200 * time.Millisecond
	// ServerVersion is the version string sent in the MySQL handshake.
	ServerVersion = "8.0.30-privlink-sampledb"
	closeTimeout  = 5 * time.Second
)

// Config configures a Server.
type Config struct {
	Listen   string // TCP address; default ":6001"
	Users    []User // who may log in; at least one
	Database string // default database, created empty; default "demo"
	Logger   *slog.Logger

	// ProxyHeaderTimeout bounds how long a new connection is watched for a
	// PROXY protocol header before it is treated as a plain MySQL connection.
	// MySQL servers speak first, so every plain connection waits this long
	// before it gets the server greeting. Default 200ms.
	ProxyHeaderTimeout time.Duration
}

// Server is a MySQL-compatible in-memory database server. Use New, Start,
// then Close.
type Server struct {
	cfg    Config
	log    *slog.Logger
	users  *userTable
	engine *gms.Engine
	pro    *memory.DbProvider

	mu         sync.Mutex
	started    bool
	closed     bool
	srv        *server.Server
	tracker    *connTracker
	acceptDone chan struct{}
}

// New validates cfg, applies defaults and builds the engine. It does not
// listen; call Start.
func New(cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.ProxyHeaderTimeout <= 0 {
		cfg.ProxyHeaderTimeout = DefaultProxyHeaderTimeout
	}
	switch strings.ToLower(cfg.Database) {
	case InfoDatabase, "mysql", "information_schema":
		return nil, fmt.Errorf("database name %q is reserved", cfg.Database)
	}
	if len(cfg.Users) == 0 {
		return nil, errors.New("no users configured")
	}
	users, err := newUserTable(cfg.Users, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, users: users}

	db := memory.NewDatabase(cfg.Database)
	db.EnablePrimaryKeyIndexes()
	s.pro = memory.NewDBProvider(db, &infoDB{table: &infoTable{lookup: s.connInfo}})
	s.engine = gms.NewDefault(s.pro)
	return s, nil
}

// Start listens on cfg.Listen and serves connections in the background. The
// listener is bound when Start returns.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server is closed")
	}
	if s.started {
		return errors.New("server already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	pl := &proxyproto.Listener{
		Listener: ln,
		// The header is optional: plain MySQL clients must keep working.
		ConnPolicy:        func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.USE, nil },
		ReadHeaderTimeout: s.cfg.ProxyHeaderTimeout,
	}
	tracker := newConnTracker(pl, s.log)
	srv, err := server.NewServer(server.Config{
		Protocol:                "tcp",
		Address:                 ln.Addr().String(),
		Listener:                tracker,
		Version:                 ServerVersion,
		ProtocolListenerFactory: s.protocolListener,
	}, s.engine, sql.NewContext, s.newSession, nil)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("create mysql server: %w", err)
	}
	s.srv, s.tracker, s.started = srv, tracker, true
	s.acceptDone = make(chan struct{})
	go func() {
		defer close(s.acceptDone)
		_ = srv.Start() // returns when the listener is closed
	}()
	s.log.Info("sampledb listening", "addr", ln.Addr().String(), "database", s.cfg.Database, "users", len(s.cfg.Users))
	return nil
}

// Addr returns the bound listen address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tracker == nil {
		return nil
	}
	return s.tracker.Addr()
}

// Close stops listening, closes all sessions and waits for their goroutines.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv, tracker, done := s.srv, s.tracker, s.acceptDone
	s.mu.Unlock()

	var errs []error
	if srv != nil {
		if err := srv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close listener: %w", err))
		}
		<-done
		if err := tracker.closeConns(closeTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	// Engine.Close always reports the cancellation of its background context.
	if err := s.engine.Close(); err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("close engine: %w", err))
	}
	s.log.Info("sampledb closed")
	return errors.Join(errs...)
}

// protocolListener is the server.ProtocolListenerFunc: the stock vitess
// listener, with our MatrixOne-style user table as the auth server.
func (s *Server) protocolListener(cfg server.Config, lcfg mysql.ListenerConfig, _ server.ServerEventListener) (server.ProtocolListener, error) {
	lcfg.AuthServer = s.users
	l, err := mysql.NewListenerWithConfig(lcfg)
	if err != nil {
		return nil, err
	}
	l.ServerVersion = cfg.Version
	return l, nil
}

// newSession is the server.SessionBuilder: a memory session, with the
// connection registered for privlink.connection_info.
func (s *Server) newSession(ctx context.Context, c *mysql.Conn, addr string) (sql.Session, error) {
	sess, err := memory.NewSessionBuilder(s.pro)(ctx, c, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.Conn.(*trackedConn); ok {
		s.tracker.bind(c.ConnectionID, tc)
		// go-mysql-server also builds sessions for connections that failed to
		// log in (when cleaning them up); only log real ones.
		if c.User == "" {
			return sess, nil
		}
		info := tc.info()
		s.log.Info("session", "conn_id", c.ConnectionID, "user", c.User,
			"client_addr", info.ClientAddr, "proxied", info.Proxied,
			"vpc_id", info.VPCID, "endpoint_id", info.EndpointID, "service_id", info.ServiceID)
	}
	return sess, nil
}

// connInfo looks up a MySQL connection ID (= session ID).
func (s *Server) connInfo(id uint32) (connInfo, bool) {
	s.mu.Lock()
	t := s.tracker
	s.mu.Unlock()
	if t == nil {
		return connInfo{}, false
	}
	return t.info(id)
}
