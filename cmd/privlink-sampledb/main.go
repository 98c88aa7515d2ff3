// Command privlink-sampledb runs an in-memory, MySQL-compatible database
// server that stands in for a vendor's database (MatrixOne-style logins,
// optional PROXY protocol v2 with Alibaba PrivateLink TLVs). See
// internal/sampledb/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/privlink/privlink/internal/sampledb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "privlink-sampledb:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts the server down.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg.Logger = log
	slog.SetDefault(log)              // vitess logs through the standard log package
	logrus.SetLevel(logrus.WarnLevel) // go-mysql-server logs every connection at info
	logrus.SetOutput(stderr)

	srv, err := sampledb.New(cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return errors.Join(err, srv.Close())
	}
	<-ctx.Done()
	log.Info("shutting down")
	return srv.Close()
}

// parseFlags turns command-line flags into a sampledb.Config.
func parseFlags(args []string, output io.Writer) (sampledb.Config, error) {
	var cfg sampledb.Config
	var usersFile string
	fs := flag.NewFlagSet("privlink-sampledb", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.Listen, "listen", sampledb.DefaultListen, "TCP `address` to listen on")
	fs.StringVar(&cfg.Database, "database", sampledb.DefaultDatabase, "`name` of the default database")
	fs.StringVar(&usersFile, "users-file", "", "`file` with one account:user:role=password per line (# comments)")
	fs.DurationVar(&cfg.ProxyHeaderTimeout, "proxy-header-timeout", sampledb.DefaultProxyHeaderTimeout,
		"how long to wait for an optional PROXY v2 header on a new connection")
	fs.Func("user", "`account:user:role=password` allowed to log in (repeatable)", func(s string) error {
		u, err := sampledb.ParseUser(s)
		if err != nil {
			return err
		}
		cfg.Users = append(cfg.Users, u)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if usersFile != "" {
		f, err := os.Open(usersFile)
		if err != nil {
			return cfg, fmt.Errorf("users file: %w", err)
		}
		defer f.Close()
		users, err := sampledb.ReadUsers(f)
		if err != nil {
			return cfg, fmt.Errorf("users file %s: %w", usersFile, err)
		}
		cfg.Users = append(cfg.Users, users...)
	}
	if len(cfg.Users) == 0 {
		return cfg, errors.New("no users: give --user or --users-file")
	}
	return cfg, nil
}
