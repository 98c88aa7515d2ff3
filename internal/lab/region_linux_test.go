//go:build linux

package lab

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestStartRegion brings up a region on four lab nodes with the real
// binary: privlink server (embedded etcd member, API, node agent) on n1..n3
// forming one etcd cluster under one CA, a standalone agent on n4. Every
// member's API answers (from n4's namespace, over TLS verified against the
// region CA), and node list shows all four nodes Ready in their zones.
func TestStartRegion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the privlink binary")
	}
	l := New(t, Config{Nodes: 4, Zones: []string{"cn-hangzhou-h", "cn-hangzhou-i"}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := l.StartRegion(ctx, RegionConfig{Bin: privlinkBin(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Servers) != 3 || len(r.Agents) != 1 || r.Agents["n4"] == nil {
		t.Fatalf("servers %d, agents %v", len(r.Servers), r.Agents)
	}
	n4 := l.Nodes[3]
	for i := range r.Servers {
		c, err := r.Admin(n4, i)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, fmt.Sprintf("every node Ready through %s's API", l.Nodes[i].Name), func() error {
			nodes, err := c.ListNodes(ctx)
			if err != nil {
				return err
			}
			ready := map[string]string{}
			for _, n := range nodes {
				if n.Status == "Ready" {
					ready[n.Name] = n.ZoneID
				}
			}
			for _, n := range l.Nodes {
				if ready[n.Name] != n.Zone {
					return fmt.Errorf("node %s not Ready in %s: %+v", n.Name, n.Zone, nodes)
				}
			}
			return nil
		})
	}
	for i, p := range r.Servers {
		if !p.Running() {
			t.Errorf("server on %s exited: %s", l.Nodes[i].Name, p.Output())
		}
	}
	r.Stop(5 * time.Second)
}
