package sampledb

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pires/go-proxyproto"
	"github.com/sirupsen/logrus"
)

func TestMain(m *testing.M) {
	logrus.SetLevel(logrus.FatalLevel) // go-mysql-server logs closed sessions as errors
	os.Exit(m.Run())
}

const (
	testLogin    = "acct1:admin:accountadmin"
	testPassword = "secret"
)

var testUsers = []User{
	{Account: "acct1", Name: "admin", Role: "accountadmin", Password: testPassword},
	{Account: "acct2", Name: "reader", Role: "public", Password: "p=w:d#2"},
}

// startServer runs a Server on a free 127.0.0.1 port until the test ends.
func startServer(t *testing.T) *Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s, err := New(Config{
		Listen:             "127.0.0.1:0",
		Users:              testUsers,
		Logger:             log,
		ProxyHeaderTimeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

var dialerSeq atomic.Int64

// openDB returns a go-sql-driver pool for login/password. If header is not
// nil, every connection starts with that PROXY header.
func openDB(t *testing.T, addr net.Addr, login, password string, header *proxyproto.Header) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = login, password, "tcp", addr.String(), "demo"
	cfg.Timeout = 5 * time.Second
	if header != nil {
		cfg.Net = fmt.Sprintf("proxyv2-%d", dialerSeq.Add(1))
		mysql.RegisterDialContext(cfg.Net, func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			if _, err := header.WriteTo(c); err != nil {
				c.Close()
				return nil, fmt.Errorf("write PROXY header: %w", err)
			}
			return c, nil
		})
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}

// proxyHeader builds a PROXY v2 header from src with the given TLVs.
func proxyHeader(t *testing.T, src string, tlvs ...proxyproto.TLV) *proxyproto.Header {
	t.Helper()
	srcAddr, err := net.ResolveTCPAddr("tcp", src)
	if err != nil {
		t.Fatal(err)
	}
	dst := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 6001}
	if srcAddr.IP.To4() == nil {
		dst = &net.TCPAddr{IP: net.ParseIP("fd00::1"), Port: 6001}
	}
	h := proxyproto.HeaderProxyFromAddrs(2, srcAddr, dst)
	h.Command = proxyproto.PROXY
	if err := h.SetTLVs(tlvs); err != nil {
		t.Fatal(err)
	}
	return h
}
