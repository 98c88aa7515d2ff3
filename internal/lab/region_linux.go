//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/pki"
	"github.com/privlink/privlink/internal/store"
)

// APIPort is where a region's API servers listen on their node's underlay
// address.
const APIPort = 8443

// RegionConfig describes a region run on a lab: privlink servers (embedded
// etcd members, API, the node's in-process agents) on the first Members
// nodes, a standalone `privlink agent` on every other node.
type RegionConfig struct {
	Bin      string // the privlink binary
	Members  int    // etcd members and API servers, on n1..n<Members>; default 3 (1 if the lab has fewer nodes)
	LogLevel string // default "warn"
	// NodeLeaseTTL is every node's --node-lease-ttl (0: the default).
	NodeLeaseTTL time.Duration
	// Extra arguments for every server and agent.
	ServerArgs, AgentArgs []string
}

// Region is a running region on a lab.
type Region struct {
	Lab     *Lab
	Servers []*Proc          // Servers[i] runs on Lab.Nodes[i]
	Agents  map[string]*Proc // standalone agents by node name
	Token   string           // the admin token
	CAFile  string           // the region CA: API and etcd certificates chain to it
	PKI     map[string]string
	cfg     RegionConfig
}

// StartRegion writes the region's certificates (one CA, a server and client
// certificate per node), starts the members together (a member is ready
// only once a quorum is), then the agents, and returns once the API
// answers from the last node.
func (l *Lab) StartRegion(ctx context.Context, cfg RegionConfig) (*Region, error) {
	if cfg.Bin == "" {
		return nil, errors.New("lab: region needs the privlink binary")
	}
	if cfg.Members == 0 {
		cfg.Members = min(3, len(l.Nodes))
	}
	if cfg.Members < 1 || cfg.Members > len(l.Nodes) {
		return nil, fmt.Errorf("lab: %d members on %d nodes", cfg.Members, len(l.Nodes))
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	r := &Region{Lab: l, Agents: map[string]*Proc{}, PKI: map[string]string{}, cfg: cfg}
	if err := r.writePKI(); err != nil {
		return nil, err
	}
	members := l.Nodes[:cfg.Members]
	initial := EtcdInitialCluster(members...)
	for _, n := range members {
		p, err := n.Start("server", r.serverArgs(n, initial))
		if err != nil {
			return nil, err
		}
		r.Servers = append(r.Servers, p)
	}
	tok, err := r.waitToken(ctx)
	if err != nil {
		return nil, err
	}
	r.Token = tok
	for _, n := range l.Nodes[cfg.Members:] {
		p, err := n.Start("agent", r.agentArgs(n))
		if err != nil {
			return nil, err
		}
		r.Agents[n.Name] = p
	}
	last := l.Nodes[len(l.Nodes)-1]
	c, err := r.Admin(last, 0)
	if err != nil {
		return nil, err
	}
	return r, until(ctx, "the API answers from "+last.Name, func() error {
		_, err := c.ListAccounts(ctx)
		return err
	})
}

// DataDir is node n's server data directory (members only).
func (r *Region) DataDir(n *Node) string { return filepath.Join(r.Lab.Dir, n.Name+"-data") }

// APIURL is the API of the server on member i (0-based).
func (r *Region) APIURL(i int) string {
	return fmt.Sprintf("https://%s:%d", r.Lab.Nodes[i].Underlay, APIPort)
}

// Admin is an admin client whose connections are made in node from,
// talking to member i's API.
func (r *Region) Admin(from *Node, i int) (*client.Client, error) {
	return from.Client(r.APIURL(i), r.Token, r.CAFile)
}

// EtcdFlags are the etcd client flags of a process on node n.
func (r *Region) EtcdFlags(n *Node) []string {
	dir := r.PKI[n.Name]
	return []string{"--etcd-endpoints", strings.Join(EtcdEndpoints(r.Lab.Nodes[:r.cfg.Members]...), ","),
		"--etcd-cacert", filepath.Join(dir, "ca.crt"),
		"--etcd-cert", filepath.Join(dir, "client.crt"), "--etcd-key", filepath.Join(dir, "client.key")}
}

func (r *Region) nodeArgs(n *Node) []string {
	a := []string{"--node", n.Name, "--underlay-addr", n.Underlay.String(),
		"--underlay-mtu", fmt.Sprint(r.Lab.UnderlayMTU), "--netns-prefix", n.NetnsPrefix, "--network", "netns",
		"--log-level", r.cfg.LogLevel}
	if r.cfg.NodeLeaseTTL > 0 {
		a = append(a, "--node-lease-ttl", r.cfg.NodeLeaseTTL.String())
	}
	return a
}

func (r *Region) serverArgs(n *Node, initial string) []string {
	dir := r.PKI[n.Name]
	a := []string{r.cfg.Bin, "server", "--data-dir", r.DataDir(n),
		"--listen", fmt.Sprintf("%s:%d", n.Underlay, APIPort),
		"--tls-cert", filepath.Join(dir, "server.crt"), "--tls-key", filepath.Join(dir, "server.key"),
		"--etcd-name", n.Name, "--etcd-initial-cluster", initial,
		"--etcd-listen-client", n.EtcdClientURL(), "--etcd-listen-peer", n.EtcdPeerURL(),
		"--zone", n.Zone}
	a = append(a, r.nodeArgs(n)...)
	return append(a, r.cfg.ServerArgs...)
}

func (r *Region) agentArgs(n *Node) []string {
	a := []string{r.cfg.Bin, "agent", "--zone", n.Zone}
	a = append(a, r.EtcdFlags(n)...)
	a = append(a, r.nodeArgs(n)...)
	return append(a, r.cfg.AgentArgs...)
}

// writePKI makes the region CA in n1's data dir and issues every other
// node's set from it, as `privlink pki issue` does on real machines.
func (r *Region) writePKI() error {
	first := r.Lab.Nodes[0]
	set, err := pki.Ensure(store.PKIDir(r.DataDir(first)), []string{first.Underlay.String()})
	if err != nil {
		return fmt.Errorf("lab: region CA: %w", err)
	}
	r.CAFile = set.CACert
	r.PKI[first.Name] = set.Dir
	for i, n := range r.Lab.Nodes[1:] {
		out := filepath.Join(r.Lab.Dir, n.Name+"-pki")
		if i+1 < r.cfg.Members {
			out = store.PKIDir(r.DataDir(n))
		}
		if _, err := pki.Issue(set.Dir, out, []string{n.Underlay.String()}); err != nil {
			return fmt.Errorf("lab: certificates of %s: %w", n.Name, err)
		}
		r.PKI[n.Name] = out
	}
	return nil
}

// waitToken waits for the one member that bootstrapped the region to write
// the admin token.
func (r *Region) waitToken(ctx context.Context) (string, error) {
	var tok string
	err := until(ctx, "the admin token", func() error {
		for i, p := range r.Servers {
			if !p.Running() {
				return fmt.Errorf("%w: server on %s exited: %s", errStop, r.Lab.Nodes[i].Name, p.Output())
			}
			if b, err := os.ReadFile(filepath.Join(r.DataDir(r.Lab.Nodes[i]), "admin.token")); err == nil {
				tok = strings.TrimSpace(string(b))
				return nil
			}
		}
		return errors.New("not written yet")
	})
	return tok, err
}

// Stop stops every process of the region (SIGTERM, then SIGKILL after
// grace), agents first.
func (r *Region) Stop(grace time.Duration) {
	stop := func(ps ...*Proc) {
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Add(1)
			go func() { defer wg.Done(); _ = p.Stop(grace) }()
		}
		wg.Wait()
	}
	var agents []*Proc
	for _, p := range r.Agents {
		agents = append(agents, p)
	}
	stop(agents...)
	stop(r.Servers...)
}

var errStop = errors.New("lab: giving up")

// until retries fn every 100 ms until it succeeds, returns an error
// wrapping errStop, or ctx ends.
func until(ctx context.Context, what string, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if errors.Is(err, errStop) {
			return fmt.Errorf("lab: %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: %s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
