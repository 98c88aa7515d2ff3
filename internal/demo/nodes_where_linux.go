//go:build linux

package demo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

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

// placements reads eniplace/<endpoint>/ from etcd with a client certificate
// of the region, its connections made in the last node (no route to the
// underlay exists outside the lab): zone -> node.
func (r *nodesRun) placements(ctx context.Context) (map[string]string, error) {
	from := r.lab.Nodes[len(r.lab.Nodes)-1]
	tc, err := clientTLS(r.region.PKI[from.Name])
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   lab.EtcdEndpoints(r.lab.Nodes[:len(r.region.Servers)]...),
		DialTimeout: 5 * time.Second, TLS: tc,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return from.DialContext(ctx, "tcp", addr)
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	prefix := "/privlink/" + store.KindENIPlace + "/" + r.sum.EndpointID + "/"
	resp, err := cli.Get(gctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read placements: %w", err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		var p model.ENIPlacement
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return nil, fmt.Errorf("placement %s: %w", kv.Key, err)
		}
		out[strings.TrimPrefix(string(kv.Key), prefix)] = p.Node
	}
	return out, nil
}

// clientTLS is the etcd client configuration of a pki directory (ca.crt,
// client.crt, client.key), as `privlink pki issue` writes it.
func clientTLS(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"))
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s/ca.crt", dir)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
