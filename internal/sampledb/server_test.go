package sampledb

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestLoginSpellingsAndSQL(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		login, password string
	}{
		{"acct1:admin:accountadmin", testPassword},
		{"acct1#admin#accountadmin", testPassword},
		{"acct1%3Aadmin%3Aaccountadmin", testPassword},
		{"acct1%23admin%23accountadmin", testPassword},
		{"acct1:admin", testPassword}, // role omitted
		{"acct2:reader:public", "p=w:d#2"},
	}
	for i, tc := range tests {
		t.Run(tc.login, func(t *testing.T) {
			db := openDB(t, s.Addr(), tc.login, tc.password, nil)
			table := fmt.Sprintf("t%d", i)
			for _, q := range []string{
				"CREATE TABLE " + table + " (id INT PRIMARY KEY, name VARCHAR(64))",
				"INSERT INTO " + table + " VALUES (1, 'alpha'), (2, 'beta')",
			} {
				if _, err := db.ExecContext(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			var name, user string
			if err := db.QueryRowContext(t.Context(), "SELECT name FROM "+table+" WHERE id = 2").Scan(&name); err != nil {
				t.Fatal(err)
			}
			if name != "beta" {
				t.Errorf("name = %q, want beta", name)
			}
			if err := db.QueryRowContext(t.Context(), "SELECT CURRENT_USER()").Scan(&user); err != nil {
				t.Fatal(err)
			}
			acct, u, _, _ := parseLoginName(tc.login)
			if want := acct + ":" + u + ":"; len(user) < len(want) || user[:len(want)] != want {
				t.Errorf("CURRENT_USER() = %q, want prefix %q", user, want)
			}
		})
	}
}

func TestLoginRefused(t *testing.T) {
	s := startServer(t)
	tests := []struct{ name, login, password string }{
		{"wrong password", testLogin, "nope"},
		{"empty password", testLogin, ""},
		{"unknown user", "acct1:ghost:accountadmin", testPassword},
		{"unknown account", "acct9:admin:accountadmin", testPassword},
		{"wrong role", "acct1:admin:public", testPassword},
		{"other user's password", "acct2:reader", testPassword},
		{"malformed name", "acct1:admin:accountadmin:extra", testPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, s.Addr(), tc.login, tc.password, nil)
			err := db.PingContext(t.Context())
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1045 {
				t.Fatalf("Ping error = %v, want MySQL error 1045", err)
			}
		})
	}
}

func TestCloseStopsListenerAndSessions(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := New(Config{Listen: "127.0.0.1:0", Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != nil {
		t.Errorf("Addr before Start = %v, want nil", s.Addr())
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	db := openDB(t, addr, testLogin, testPassword, nil)
	conn, err := db.Conn(t.Context()) // an open session Close must end
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
	if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c.Close()
		t.Fatalf("dial %s after Close succeeded", addr)
	}
	if err := conn.PingContext(t.Context()); err == nil {
		t.Error("open session still works after Close")
	}
	conn.Close()
	db.Close()

	// Every server goroutine must be gone (allow for runtime background ones).
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after Close\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no users", Config{}},
		{"duplicate user", Config{Users: []User{testUsers[0], testUsers[0]}}},
		{"missing role", Config{Users: []User{{Account: "a", Name: "b"}}}},
		{"reserved database", Config{Users: testUsers, Database: "privlink"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Error("New succeeded, want error")
			}
		})
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Config{Listen: ln.Addr().String(), Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
}
