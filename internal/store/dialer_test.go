package store

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestDialer: with Config.Dialer every connection to etcd is made by it
// (the multi-node demo dials from inside a lab node); a Dialer that refuses
// makes Open fail instead of reaching etcd some other way.
func TestDialer(t *testing.T) {
	ctx := context.Background()
	s, _ := openEmbedded(t, Config{Logger: slog.Default()})
	t.Cleanup(s.Close)
	var dials atomic.Int32
	c, err := Open(ctx, Config{Endpoints: s.Endpoints(), Credentials: s.Credentials(), Logger: s.log,
		Dialer: func(ctx context.Context, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if dials.Load() == 0 {
		t.Error("Open reached etcd without calling the Dialer")
	}
	refused := errors.New("refused by the test")
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = Open(sctx, Config{Endpoints: s.Endpoints(), Credentials: s.Credentials(), Logger: s.log,
		Dialer: func(context.Context, string) (net.Conn, error) { return nil, refused }})
	if err == nil {
		t.Error("Open succeeded with a Dialer that refuses every connection")
	}
}
