//go:build linux

package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/privlink/privlink/internal/lab"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// where prints which machine holds what: GET /v1/nodes, the hosts'
// nodeName and the endpoint's ENI placements (read from etcd, as the
// placement controller wrote them).
func (r *nodesRun) where(ctx context.Context) error {
	r.stepf("where each piece lives (GET /v1/nodes, host records, ENI placements in etcd)")
	nodes, err := r.admin.ListNodes(ctx)
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	place, err := r.placements(ctx)
	if err != nil {
		return err
	}
	pieces := map[string][]string{}
	for _, h := range r.sc.ProviderNet.Hosts {
		pieces[h.NodeName] = append(pieces[h.NodeName], fmt.Sprintf("vendor instance %s %s", h.Name, h.IP))
	}
	pieces[r.host.NodeName] = append(pieces[r.host.NodeName], fmt.Sprintf("customer ECS host %s %s", r.host.Name, r.host.IP))
	for _, z := range r.sum.ZoneIDs {
		n := place[z]
		if n == "" {
			return fmt.Errorf("demo: no placement of endpoint %s in zone %s", r.sum.EndpointID, z)
		}
		pieces[n] = append(pieces[n], fmt.Sprintf("endpoint IP %s (%s)", r.sum.ZoneIPs[z], z))
	}
	members := len(r.region.Servers)
	tw := tabwriter.NewWriter(r.o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tZONE\tUNDERLAY\tSTATUS\tRUNS\tHOSTS\tENIS\tHOLDS")
	for _, n := range nodes {
		runs := "agent"
		if ln := r.lab.Node(n.Name); ln != nil && ln.Index <= members {
			runs = "etcd+api+agent"
		}
		row := NodeRow{Name: n.Name, Zone: n.ZoneID, Underlay: n.UnderlayAddr, Status: n.Status, Runs: runs,
			Hosts: n.Hosts, ENIs: n.ENIs, Pieces: pieces[n.Name]}
		r.sum.Nodes = append(r.sum.Nodes, row)
		holds := strings.Join(row.Pieces, ", ")
		if holds == "" {
			holds = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", n.Name, n.ZoneID, n.UnderlayAddr, n.Status, runs, n.Hosts, n.ENIs, holds)
	}
	return tw.Flush()
}

// placements reads eniplace/<endpoint>/ with a client certificate of the
// region, its connections made in the last node (no route to the underlay
// exists outside the lab): zone -> node.
func (r *nodesRun) placements(ctx context.Context) (map[string]string, error) {
	from := r.lab.Nodes[len(r.lab.Nodes)-1]
	dir := r.region.PKI[from.Name]
	gctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st, err := store.Open(gctx, store.Config{
		Endpoints: lab.EtcdEndpoints(r.lab.Nodes[:len(r.region.Servers)]...),
		Credentials: store.Credentials{CACert: filepath.Join(dir, "ca.crt"),
			Cert: filepath.Join(dir, "client.crt"), Key: filepath.Join(dir, "client.key")},
		Dialer: func(ctx context.Context, addr string) (net.Conn, error) { return from.DialContext(ctx, "tcp", addr) },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("demo: read placements: %w", err)
	}
	defer st.Close()
	prefix := st.ENIPlacementKey(r.sum.EndpointID, "")
	recs, _, err := store.ListRecords[model.ENIPlacement](gctx, st, prefix)
	if err != nil {
		return nil, fmt.Errorf("demo: read placements: %w", err)
	}
	out := map[string]string{}
	for _, rec := range recs {
		out[strings.TrimPrefix(rec.Key, prefix)] = rec.Value.Node
	}
	return out, nil
}
