//go:build linux

package region

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// attempt is one try of a load loop: when it started and ended, and
// whether it succeeded.
type attempt struct {
	start, end time.Time
	err        error
}

// loop runs fn again and again (every `every`, one at a time) until
// stopped, recording every attempt.
type loop struct {
	name string
	mu   sync.Mutex
	log  []attempt
	stop context.CancelFunc
	done chan struct{}
}

func startLoop(name string, every time.Duration, fn func(ctx context.Context) error) *loop {
	ctx, cancel := context.WithCancel(bg)
	l := &loop{name: name, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			a := attempt{start: time.Now()}
			a.err = fn(ctx)
			a.end = time.Now()
			if ctx.Err() != nil {
				return // an attempt cut by the stop is not a failure
			}
			l.mu.Lock()
			l.log = append(l.log, a)
			l.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
		}
	}()
	return l
}

// Stop ends the loop and waits for its last attempt.
func (l *loop) Stop() { l.stop(); <-l.done }

// between returns the attempts that started in [from, to).
func (l *loop) between(from, to time.Time) (ok, failed int, firstErr error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.log {
		if a.start.Before(from) || !a.start.Before(to) {
			continue
		}
		if a.err == nil {
			ok++
		} else {
			failed++
			if firstErr == nil {
				firstErr = a.err
			}
		}
	}
	return ok, failed, firstErr
}

// firstOKAfter is the end of the first successful attempt started after t
// (zero if none yet).
func (l *loop) firstOKAfter(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.log {
		if a.err == nil && a.start.After(t) {
			return a.end
		}
	}
	return time.Time{}
}

func (l *loop) String() string {
	ok, failed, err := l.between(time.Time{}, time.Now().Add(time.Hour))
	return fmt.Sprintf("%s: %d ok, %d failed (first error: %v)", l.name, ok, failed, err)
}

// loads is the live traffic of a fault test.
type loads struct {
	mysqlEP, mysqlI, echoI, probeH *loop
	tcp                            []*loop
}

func (ls *loads) all() []*loop {
	return append([]*loop{ls.mysqlEP, ls.mysqlI, ls.echoI, ls.probeH}, ls.tcp...)
}

func (ls *loads) stop() {
	for _, l := range ls.all() {
		l.Stop()
	}
}

// startLoads starts, from the customer's app host:
//   - mysqlEP: a new MySQL connection through the endpoint domain every
//     100 ms (SELECT from the vendor's database, then close);
//   - mysqlI and echoI: the same, and a new TCP echo connection, through
//     zone i's zonal domain;
//   - probeH: a new TCP echo connection through zone h's zonal domain every
//     50 ms with a 500 ms timeout (the failover probe);
//   - tcp: `conns` long-lived echo connections through the endpoint domain,
//     one 64-byte exchange every 20 ms each; a broken one counts a failure
//     and is dialled again.
func (e *env) startLoads(conns int) *loads {
	ls := &loads{
		mysqlEP: startLoop("mysql via endpoint domain", 100*time.Millisecond, e.mysqlQuery(e.domain)),
		mysqlI:  startLoop("mysql via zone i's domain", 100*time.Millisecond, e.mysqlQuery(e.zoneDomain[zoneI])),
		echoI: startLoop("tcp via zone i's domain", 100*time.Millisecond, func(ctx context.Context) error {
			return e.echoOnce(ctx, e.zoneDomain[zoneI], 2*time.Second)
		}),
		probeH: startLoop("probe via zone h's domain", 50*time.Millisecond, func(ctx context.Context) error {
			return e.echoOnce(ctx, e.zoneDomain[zoneH], 500*time.Millisecond)
		}),
	}
	for i := range conns {
		var c net.Conn
		ls.tcp = append(ls.tcp, startLoop(fmt.Sprintf("tcp load conn %d via endpoint domain", i), 20*time.Millisecond, func(ctx context.Context) error {
			if c == nil {
				var err error
				if c, err = e.dial(ctx, e.domain, echoPort, time.Second); err != nil {
					return err
				}
			}
			if err := exchange(c, 2*time.Second); err != nil {
				c.Close()
				c = nil
				return err
			}
			return nil
		}))
	}
	e.t.Cleanup(ls.stop)
	return ls
}

// mysqlQuery returns one MySQL round through name: a new connection
// (go-sql-driver dialling from the app host), a query, close.
func (e *env) mysqlQuery(name string) func(ctx context.Context) error {
	netName := "region-" + e.lab.Prefix + "-" + name
	mysql.RegisterDialContext(netName, func(ctx context.Context, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		p, _ := strconv.Atoi(port)
		return e.dial(ctx, host, p, time.Second)
	})
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = dbUser, dbPass, netName, net.JoinHostPort(name, strconv.Itoa(dbPort)), "demo"
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 3*time.Second, 3*time.Second, 3*time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(-1) // every round opens a new connection
	e.t.Cleanup(func() { db.Close() })
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var n int
		return db.QueryRowContext(ctx, "SELECT 1 + 1").Scan(&n)
	}
}

// percentile is the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
