//go:build linux

package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/lab"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/server"
)

// nodesRun is one multi-node demo's live state.
type nodesRun struct {
	o      NodesOptions
	lab    *lab.Lab
	region *lab.Region
	admin  *client.Client
	sc     *scenario.Scenario
	host   model.Host // the customer's ECS host
	sum    Summary
	step   int
}

func (r *nodesRun) say(format string, args ...any) { fmt.Fprintf(r.o.Out, format+"\n", args...) }

func (r *nodesRun) stepf(format string, args ...any) {
	r.step++
	fmt.Fprintf(r.o.Out, "\n== Step %d: %s\n", r.step, fmt.Sprintf(format, args...))
}

// Demo placement on the lab: the vendor's instances on n1 (first zone) and
// n3 (second zone), the customer's ECS host on n2 (first zone).
var nodeZones = []int{0, 0, 1, 1} // zone index of n1..n4; later nodes alternate

// RunNodes plays the scenario on a lab of o.Nodes simulated machines
// (internal/lab): three etcd members with API servers on n1..n3, agents on
// the others, the vendor's instances on n1 and n3, the customer's ECS host
// on n2. It prints where each piece lives, runs the mysql client from the
// customer's host through the endpoint domain, and closes the lab (every
// process and namespace) at the end or when ctx ends.
func RunNodes(ctx context.Context, o NodesOptions) (sum *Summary, err error) {
	if o.Nodes < 4 {
		return nil, fmt.Errorf("demo: --nodes %d: the multi-node demo needs at least 4 (1 or 0: the single-machine demo)", o.Nodes)
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("demo: the privlink binary: %w", err)
		}
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("demo: --nodes needs root (it simulates machines as network namespaces)")
	}
	if _, err := sampleDBNextTo(o.Bin); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("mysql"); err != nil {
		return nil, errors.New("demo: --nodes runs the mysql client on the customer's host: install mariadb-client (scripts/demo.sh does)")
	}
	r := &nodesRun{o: o}
	defer func() {
		if r.lab != nil {
			if cerr := r.lab.Close(); cerr != nil && err == nil {
				err = cerr
			}
			r.say("\nlab %s closed: every process, namespace and file it made is gone", r.lab.Prefix)
		}
	}()
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	for _, f := range []func(context.Context) error{r.provider, r.consumer, r.where, r.connect} {
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

func (r *nodesRun) start(ctx context.Context) error {
	zones := server.DefaultZones()
	lz := make([]string, r.o.Nodes)
	for i := range lz {
		if i < len(nodeZones) {
			lz[i] = zones[nodeZones[i]]
		} else {
			lz[i] = zones[i%2]
		}
	}
	r.stepf("a lab of %d machines (network namespaces on one underlay bridge), region %s, zones %s and %s",
		r.o.Nodes, server.DefaultRegion, zones[0], zones[1])
	t0 := time.Now()
	l, err := lab.Start(lab.Config{Nodes: r.o.Nodes, Zones: lz})
	if err != nil {
		return err
	}
	r.lab, r.sum.Lab, r.sum.Network = l, l.Prefix, "netns"
	r.say("  lab %s: nodes %s on 10.255.0.0/24, process logs in %s", l.Prefix, nodeNames(l), l.Dir)
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if r.region, err = l.StartRegion(sctx, lab.RegionConfig{Bin: r.o.Bin}); err != nil {
		return err
	}
	// The API is asked from the last node: a machine with no API server.
	if r.admin, err = r.region.Admin(l.Nodes[len(l.Nodes)-1], 0); err != nil {
		return err
	}
	if err := r.waitNodesReady(sctx); err != nil {
		return err
	}
	agents := "n4"
	if r.o.Nodes > 4 {
		agents = fmt.Sprintf("n4..n%d", r.o.Nodes)
	}
	r.say("  privlink server (etcd member, API on :%d, node agent) on n1..n3, privlink agent on %s; all Ready in %s",
		lab.APIPort, agents, time.Since(t0).Round(time.Millisecond))
	return nil
}

func nodeNames(l *lab.Lab) string {
	var s []string
	for _, n := range l.Nodes {
		s = append(s, fmt.Sprintf("%s (%s)", n.Name, n.Zone))
	}
	return strings.Join(s, ", ")
}

// waitNodesReady waits until every machine is registered and Ready.
func (r *nodesRun) waitNodesReady(ctx context.Context) error {
	for {
		nodes, err := r.admin.ListNodes(ctx)
		ready := 0
		for _, n := range nodes {
			if n.Status == model.NodeReady {
				ready++
			}
		}
		if err == nil && ready == len(r.lab.Nodes) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: %d of %d nodes Ready (%v): %w", ready, len(r.lab.Nodes), err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// plan is the single-machine demo's plan, with the hosts placed.
func (r *nodesRun) plan() scenario.Plan {
	p := demoPlan(server.DefaultZones(), false)
	for i := range p.Provider.Hosts {
		p.Provider.Hosts[i].Node = []string{"n1", "n3"}[i%2]
	}
	p.Consumer.Hosts[0].Node = "n2"
	return p
}

// hostNS is the namespace of a host made by node's agent.
func (r *nodesRun) hostNS(h model.Host) string {
	return r.lab.Node(h.NodeName).NetnsPrefix + "-" + h.HostID
}

// inHost runs argv in host h's namespace (ip netns exec: the host's
// /etc/netns resolv.conf points at its VPC resolver).
func (r *nodesRun) inHost(ctx context.Context, h model.Host, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", r.hostNS(h)}, argv...)...)
}

func sampleDBNextTo(bin string) (string, error) {
	p := filepath.Join(filepath.Dir(bin), "privlink-sampledb")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("privlink-sampledb not found next to %s; build it: go build -o bin/ ./cmd/...", bin)
	}
	return p, nil
}
