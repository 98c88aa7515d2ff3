package main

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"

	"github.com/privlink/privlink/internal/sampledb"
	"github.com/privlink/privlink/internal/testenv"
)

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users")
	if err := os.WriteFile(usersFile, []byte("# users\nacct2:bob=pw2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad")
	if err := os.WriteFile(badFile, []byte("nopassword\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		wantUsers []string
		wantErr   string
	}{
		{name: "user flags", args: []string{"--user", "acct1:admin:accountadmin=secret", "-user=acct1#ro=x"},
			wantUsers: []string{"acct1:admin:accountadmin", "acct1:ro:accountadmin"}},
		{name: "users file", args: []string{"--users-file", usersFile, "--user", "a:b:c=d"},
			wantUsers: []string{"a:b:c", "acct2:bob:accountadmin"}},
		{name: "no users", args: nil, wantErr: "no users"},
		{name: "bad user", args: []string{"--user", "acct1:admin"}, wantErr: "missing"},
		{name: "bad users file", args: []string{"--users-file", badFile}, wantErr: "line 1"},
		{name: "missing users file", args: []string{"--users-file", filepath.Join(dir, "nope")}, wantErr: "users file"},
		{name: "stray argument", args: []string{"--user", "a:b=c", "extra"}, wantErr: "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range cfg.Users {
				got = append(got, u.LoginName())
			}
			if strings.Join(got, " ") != strings.Join(tc.wantUsers, " ") {
				t.Errorf("users = %v, want %v", got, tc.wantUsers)
			}
			if cfg.Listen != sampledb.DefaultListen || cfg.Database != sampledb.DefaultDatabase {
				t.Errorf("defaults: listen=%q database=%q", cfg.Listen, cfg.Database)
			}
		})
	}
}

// run serves real clients and returns cleanly when its context ends.
func TestRunServesUntilCancelled(t *testing.T) {
	defer logrus.SetOutput(os.Stderr)
	defer slog.SetDefault(slog.Default())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(t.Context())
	var logs testenv.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", addr, "--database", "shop", "--user", "acct1:admin:accountadmin=secret"}, &logs)
	}()

	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "acct1:admin:accountadmin", "secret", "tcp", addr, "shop"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var n int
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = db.QueryRowContext(t.Context(), "SELECT 41 + 1").Scan(&n)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || n != 42 {
		t.Fatalf("query: n=%d err=%v", n, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still listening after run returned")
	}
	if !strings.Contains(logs.String(), "sampledb listening") {
		t.Errorf("no startup log line in:\n%s", logs.String())
	}
}
