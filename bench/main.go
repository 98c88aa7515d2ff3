// Command plbench measures privlink's data plane and control plane against
// baselines measured in the same run on the same topology: the direct
// kernel path (a routed veth between the two VPCs, as with VPC peering),
// HAProxy (mode tcp) and nginx stream placed where privlink's agent sits.
//
// Run it as root from the repository root:
//
//	go run ./bench                 # full run, about 10 minutes
//	go run ./bench --quick         # about 20 seconds, tiny counts
//	go run ./bench --only overload # a flooding tenant vs. a victim's latency (opt-in)
//	go run ./bench --only soak     # 10,000 connections for 10 minutes (opt-in)
//	go run ./bench --only nodes    # across three lab nodes (opt-in, nodes.go), about 4 minutes
//	go run ./bench --only scale    # 10,000 endpoints on one node (opt-in, see scale.go)
//
// It builds the topology through privlink's API (privlink server runs as a
// subprocess so that its CPU time and memory can be read from /proc), runs
// every workload --runs times, prints a table with the median and the
// min..max range per path and the ratios privlink/baseline, and removes
// everything it created, also on failure and Ctrl-C. Every load runs in
// network namespaces; only control-plane API calls use 127.0.0.1.
//
// The same binary is the load generator and the servers: the harness
// re-executes itself inside the host namespaces with $PLBENCH_CHILD set
// (see loads.go). See docs/benchmarks.md for what each row measures.
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
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Config is one benchmark invocation.
type Config struct {
	Quick          bool
	Runs           int
	Duration       time.Duration
	Only           *regexp.Regexp // nil: every workload
	Paths          *regexp.Regexp // nil: every path
	Out            string         // markdown copy of the report
	Privlink       string         // prebuilt privlink binary; "" = go build
	IdleConns      int            // idle-connection memory workload
	CPEndpoints    int            // endpoints measured per control-plane round
	CPExisting     int            // endpoints present for the "loaded" round
	OverloadDur    time.Duration  // each victim measurement of the overload workload
	SoakConns      int            // connections held by the soak
	SoakDur        time.Duration  // how long the soak runs
	SoakPeriod     time.Duration  // time between one soak connection's round trips
	ScaleEndpoints int            // endpoints of the scale workload
	ScaleMode      string         // forwarding of the scale workload's service: proxy | nat
	ScaleAgent     bool           // zone h's agent as its own process, restarted alone by the scale workload
	ScaleKeeper    bool           // that agent under a socket keeper, killed (-9) instead of handed over
	Command        string         // printed at the top of the report
	Verbose        bool

	idleCapNote string // set when IdleConns was lowered to fit RLIMIT_NOFILE
	soakCapNote string // set when SoakConns was lowered to fit RLIMIT_NOFILE
}

func main() {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(childMain(role, os.Args[1:]))
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "plbench:", err)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if cfg.Verbose {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg, os.Stdout)
	if err != nil {
		slog.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
	if rep.Failed() {
		os.Exit(1)
	}
}

func parseFlags(args []string) (Config, error) {
	fs := flag.NewFlagSet("plbench", flag.ContinueOnError)
	var cfg Config
	var only, paths string
	fs.BoolVar(&cfg.Quick, "quick", false, "tiny durations and counts (about 20 seconds; used by the test suite)")
	fs.IntVar(&cfg.Runs, "runs", 0, "repetitions of each workload (default 3, --quick 1)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "duration of each timed workload run (default 3s, --quick 300ms)")
	fs.StringVar(&only, "only", "", "run only workloads whose name matches this regexp (see --list)")
	fs.StringVar(&paths, "paths", "", "measure only the paths whose name matches this regexp (direct, privlink, privlink-nat, haproxy-default, nginx-default, haproxy-tuned, nginx-tuned)")
	fs.StringVar(&cfg.Out, "out", "", "also write the report as markdown to this file")
	fs.StringVar(&cfg.Privlink, "privlink", "", "use this privlink binary instead of building ./cmd/privlink")
	fs.IntVar(&cfg.IdleConns, "idle-conns", 0, "connections held by the idle-memory workload (default 10000, --quick 300)")
	fs.IntVar(&cfg.CPEndpoints, "cp-endpoints", 0, "endpoints created per control-plane round (default 50, --quick 5)")
	fs.IntVar(&cfg.CPExisting, "cp-existing", 0, "endpoints present for the loaded control-plane round and the restart (default 1000, --quick 60)")
	fs.DurationVar(&cfg.OverloadDur, "overload-duration", 0, "victim measurement before and during the flood (default 10s, --quick 3s)")
	fs.IntVar(&cfg.SoakConns, "soak-conns", 0, "connections held by the soak (default 10000, --quick 1000; capped by RLIMIT_NOFILE)")
	fs.DurationVar(&cfg.SoakDur, "soak-duration", 0, "soak duration (default 10m, --quick 20s)")
	fs.DurationVar(&cfg.SoakPeriod, "soak-period", 0, "time between one soak connection's round trips (default 10s, --quick 2s)")
	fs.IntVar(&cfg.ScaleEndpoints, "scale-endpoints", 0, "endpoints of the scale workload (default 10000, --quick 300)")
	fs.StringVar(&cfg.ScaleMode, "scale-mode", "proxy", "forwarding of the scale workload's service: proxy | nat")
	fs.BoolVar(&cfg.ScaleAgent, "scale-agent-process", false, "run zone h's agent as its own `privlink agent` process; the scale workload restarts it alone instead of the server")
	fs.BoolVar(&cfg.ScaleKeeper, "scale-agent-keeper", false, "with --scale-agent-process: run the agent under a socket keeper (--socket-keeper) and kill it (-9) where it would be handed over")
	fs.BoolVar(&cfg.Verbose, "v", false, "debug logging (children's stderr too)")
	list := fs.Bool("list", false, "list workload names and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.ScaleKeeper && !cfg.ScaleAgent {
		return cfg, errors.New("--scale-agent-keeper goes with --scale-agent-process")
	}
	if *list {
		for _, w := range workloadNames() {
			fmt.Println(w)
		}
		fmt.Println(workloadNodes) // opt-in, like overload and soak
		os.Exit(0)
	}
	var err error
	if cfg.Only, err = optRegexp("--only", only); err != nil {
		return cfg, err
	}
	if cfg.Paths, err = optRegexp("--paths", paths); err != nil {
		return cfg, err
	}
	cfg.Command = "go run ./bench " + strings.Join(args, " ")
	cfg.defaults()
	return cfg, cfg.validate()
}

func (c *Config) defaults() {
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if c.Quick {
				*v = quick
			}
		}
	}
	def(&c.Runs, 3, 1)
	def(&c.IdleConns, 10000, 300)
	def(&c.CPEndpoints, 50, 5)
	def(&c.CPExisting, 1000, 60)
	def(&c.SoakConns, 10000, 1000)
	def(&c.ScaleEndpoints, 10000, 300)
	defDur := func(v *time.Duration, full, quick time.Duration) {
		if *v == 0 {
			*v = full
			if c.Quick {
				*v = quick
			}
		}
	}
	defDur(&c.OverloadDur, 10*time.Second, 3*time.Second)
	defDur(&c.SoakDur, 10*time.Minute, 20*time.Second)
	defDur(&c.SoakPeriod, 10*time.Second, 2*time.Second)
	if c.Duration == 0 {
		c.Duration = 3 * time.Second
		if c.Quick {
			c.Duration = 300 * time.Millisecond
		}
	}
	c.Command = strings.TrimSpace(c.Command)
}

func (c *Config) validate() error {
	switch {
	case c.Runs < 1 || c.Runs > 20:
		return fmt.Errorf("--runs %d: want 1..20", c.Runs)
	case c.Duration < 100*time.Millisecond || c.Duration > time.Minute:
		return fmt.Errorf("--duration %v: want 100ms..1m", c.Duration)
	case c.IdleConns < 1 || c.IdleConns > 50000:
		return fmt.Errorf("--idle-conns %d: want 1..50000", c.IdleConns)
	case c.CPEndpoints < 1 || c.CPEndpoints > maxEndpointsPerVPC:
		return fmt.Errorf("--cp-endpoints %d: want 1..%d (one VPC per round)", c.CPEndpoints, maxEndpointsPerVPC)
	case c.CPExisting < 0 || c.CPExisting > 5000:
		return fmt.Errorf("--cp-existing %d: want 0..5000", c.CPExisting)
	case c.OverloadDur < time.Second || c.OverloadDur > 5*time.Minute:
		return fmt.Errorf("--overload-duration %v: want 1s..5m", c.OverloadDur)
	case c.SoakConns < 1 || c.SoakConns > 50000:
		return fmt.Errorf("--soak-conns %d: want 1..50000", c.SoakConns)
	case c.SoakDur < 5*time.Second || c.SoakDur > 30*time.Minute:
		return fmt.Errorf("--soak-duration %v: want 5s..30m", c.SoakDur)
	case c.ScaleEndpoints < 10 || c.ScaleEndpoints > 20000:
		return fmt.Errorf("--scale-endpoints %d: want 10..20000", c.ScaleEndpoints)
	case c.ScaleMode != "proxy" && c.ScaleMode != "nat":
		return fmt.Errorf("--scale-mode %q: want proxy or nat", c.ScaleMode)
	case c.Paths != nil && !slices.ContainsFunc(allPaths, c.pathSelected):
		return fmt.Errorf("--paths %s: matches none of %s", c.Paths, strings.Join(allPaths, ", "))
	case c.SoakPeriod < 100*time.Millisecond || c.SoakPeriod > time.Minute:
		return fmt.Errorf("--soak-period %v: want 100ms..1m", c.SoakPeriod)
	}
	return nil
}

// optRegexp compiles a flag's pattern; an empty one is nil (no filter).
func optRegexp(flag, pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return re, nil
}

// selected reports whether workload name is to run.
func (c *Config) selected(name string) bool { return c.Only == nil || c.Only.MatchString(name) }

// pathSelected reports whether path name is measured (--paths).
func (c *Config) pathSelected(name string) bool { return c.Paths == nil || c.Paths.MatchString(name) }

// optIn reports whether an opt-in workload (overload, soak: long, and not
// part of the default run) was asked for with --only.
func (c *Config) optIn(name string) bool { return c.Only != nil && c.Only.MatchString(name) }

// Run builds the topology, runs the selected workloads, writes the report
// to w (and --out) and removes everything it created. The report is
// returned even when a workload failed (its errors are in the report).
func Run(ctx context.Context, cfg Config, w io.Writer) (*Report, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("needs root: it creates network namespaces")
	}
	if err := checkTools(); err != nil {
		return nil, err
	}
	h, err := newHarness(cfg)
	if err != nil {
		return nil, err
	}
	defer h.cleanup() // idempotent; covers panics
	rep, err := h.run(ctx)
	if cerr := h.cleanup(); cerr != nil {
		if rep != nil {
			rep.addError("cleanup", cerr)
		} else if err == nil {
			err = cerr
		}
	}
	if rep != nil {
		rep.Write(w)
		if cfg.Out != "" {
			if werr := rep.WriteFile(cfg.Out); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return rep, err
}
