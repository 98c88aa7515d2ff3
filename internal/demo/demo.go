// Package demo plays privlink's canonical scenario end to end on one
// machine: a database vendor publishes a MySQL-compatible instance as an
// endpoint service, a customer creates an interface endpoint across two
// zones in its own VPC and connects by the endpoint domain name. It narrates
// each step in the scenario's words and cleans up everything it created.
// RunNodes plays it on a lab of several simulated machines (internal/lab):
// the vendor's instances, the customer's host and the endpoint's IPs on
// different nodes, with a table of where each piece lives.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/store"
)

// Options configure a run.
type Options struct {
	Out     io.Writer // narration
	Keep    bool      // leave everything running until ctx ends
	Network string    // netns or loopback; default by privilege
	Logger  *slog.Logger
	// Configure may adjust the server configuration (e.g. mount the console).
	Configure func(*server.Config)
}

// Summary is the machine-readable result (-o json).
type Summary struct {
	RegionID       string            `json:"regionId"`
	ZoneIDs        []string          `json:"zoneIds"`
	ServiceName    string            `json:"serviceName"`
	ServiceID      string            `json:"serviceId"`
	EndpointID     string            `json:"endpointId"`
	EndpointDomain string            `json:"endpointDomain"`
	ZoneDomains    map[string]string `json:"zoneDomains"`
	ZoneIPs        map[string]string `json:"zoneIps"`
	Network        string            `json:"network"`
	Client         string            `json:"client"`
	ActiveAfterMs  int64             `json:"activeAfterMs"`
	Query          [][]string        `json:"queryResults"`
	ProviderSaw    [][]string        `json:"providerSaw"`
	SameZone       [][]string        `json:"sameZoneResults"`
	ConsoleURL     string            `json:"consoleUrl,omitempty"`
	MySQLCommand   string            `json:"mysqlCommand"`
	// Lab and Nodes: the multi-node demo's lab prefix and where each
	// piece lives (RunNodes).
	Lab   string    `json:"lab,omitempty"`
	Nodes []NodeRow `json:"nodes,omitempty"`
}

const (
	dbUser     = "acct1:admin:accountadmin"
	dbPassword = "privlink-demo"
	dbPort     = 6001
)

// run holds one demo's live state.
type run struct {
	o     Options
	srv   *server.Server
	admin *client.Client
	sc    *scenario.Scenario // the vendor (provider) and the customer (consumer)
	host  model.Host         // the customer's ECS host
	dir   string
	procs []*os.Process
	sum   Summary
	step  int
}

func (r *run) say(format string, args ...any) { fmt.Fprintf(r.o.Out, format+"\n", args...) }

func (r *run) stepf(format string, args ...any) {
	r.step++
	fmt.Fprintf(r.o.Out, "\n== Step %d: %s\n", r.step, fmt.Sprintf(format, args...))
}

// Run plays the scenario; it returns the summary or the first failure.
func Run(ctx context.Context, o Options) (sum *Summary, err error) {
	if o.Network == "" {
		o.Network = server.DefaultNetwork()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &run{o: o}
	defer func() {
		if cerr := r.cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	for _, f := range []func(context.Context) error{r.provider, r.consumer, r.connect} {
		if err := f(ctx); err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if o.Keep {
		r.printKeep()
		<-ctx.Done()
		r.say("\nstopping and cleaning up ...")
	}
	return &r.sum, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *run) start(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "privlink-demo-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	r.dir = dir
	zones := server.DefaultZones()
	r.stepf("start privlink (region %s, zones %s and %s)", server.DefaultRegion, zones[0], zones[1])
	if r.o.Network == "loopback" {
		r.say("NOTICE: not running as root, so the loopback network driver is used: endpoint IPs are 127.x.y.z")
		r.say("        addresses on this machine and VPCs are NOT isolated. Run as root for real VPC namespaces.")
	}
	t0 := time.Now()
	var cfg server.Config
	// Ports found free may be taken before we bind them: retry with new ones.
	for attempt := 0; attempt < 5; attempt++ {
		if cfg, err = r.config(dir); err != nil {
			return err
		}
		if r.srv, err = server.Start(ctx, cfg); err == nil || !store.AddrInUse(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin.token"))
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	r.admin = client.New(r.srv.URL(), string(trimNL(tok)))
	r.sum.Network = r.srv.Driver.Name
	if cfg.Console != nil {
		r.sum.ConsoleURL = r.srv.URL() + "/console/"
	}
	r.say("privlink server ready at %s in %s (embedded etcd, network driver %s, zone agents for both zones)",
		r.srv.URL(), time.Since(t0).Round(time.Millisecond), r.srv.Driver.Name)
	return nil
}

// config picks free loopback ports for the API and the embedded etcd.
func (r *run) config(dir string) (server.Config, error) {
	var ports [4]int
	for i := range ports {
		var err error
		if ports[i], err = freePort(); err != nil {
			return server.Config{}, fmt.Errorf("free port: %w", err)
		}
	}
	cfg := server.Config{
		DataDir: filepath.Join(dir, "data"), Listen: fmt.Sprintf("127.0.0.1:%d", ports[0]), MetricsListen: fmt.Sprintf("127.0.0.1:%d", ports[3]),
		Region: server.DefaultRegion, Zones: server.DefaultZones(),
		Network: r.o.Network, NetnsPrefix: fmt.Sprintf("pldemo%d", ports[0]%100000),
		EtcdClientURL: fmt.Sprintf("https://127.0.0.1:%d", ports[1]), EtcdPeerURL: fmt.Sprintf("https://127.0.0.1:%d", ports[2]),
		Logger: r.o.Logger,
	}
	if r.o.Configure != nil {
		r.o.Configure(&cfg)
	}
	return cfg, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// cleanup stops the databases and the server and removes every namespace.
func (r *run) cleanup() error {
	for _, p := range r.procs {
		_ = p.Kill()
		_, _ = p.Wait()
	}
	var err error
	if r.srv != nil {
		err = r.srv.StopAndCleanup() // before the prefix is released
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
	return err
}
