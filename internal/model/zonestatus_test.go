package model

import "testing"

func TestZoneStatus(t *testing.T) {
	ready := &ZoneReport{Ready: true}
	ep := func(conn string, disabled bool) *Endpoint {
		return &Endpoint{EndpointStatus: StatusActive, ConnectionStatus: conn,
			Zones: []EndpointZone{{ZoneID: "z-h", ConnectionDisabled: disabled}, {ZoneID: "z-i"}}}
	}
	for _, tc := range []struct {
		name  string
		ep    *Endpoint
		zone  string
		alive bool
		rep   *ZoneReport
		want  string
	}{
		{"serving", ep(ConnConnected, false), "z-h", true, ready, ZoneConnected},
		{"no report yet", ep(ConnConnected, false), "z-h", true, nil, ZoneCreating},
		{"agent gone", ep(ConnConnected, false), "z-h", false, ready, ZoneUnavailable},
		{"agent error", ep(ConnConnected, false), "z-h", true, &ZoneReport{Ready: true, Error: "x"}, ZoneUnavailable},
		{"pending", ep(ConnPending, false), "z-h", true, ready, ZoneDisconnected},
		{"zone disabled by the provider", ep(ConnConnected, true), "z-h", true, ready, ZoneDisconnected},
		{"the other zone serves", ep(ConnConnected, true), "z-i", true, ready, ZoneConnected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ZoneStatus(tc.ep, tc.zone, tc.alive, tc.rep); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestPlacedZone: a placed zone is alive only on its node under the
// placement's lease, and only that node's report for the current epoch
// counts (the fencing and stale-epoch rules of docs/design/multinode.md §4.3).
func TestPlacedZone(t *testing.T) {
	p := &ENIPlacement{Node: "n1", NodeLease: 7, Epoch: 40}
	up := &NodeStatus{Name: "n1", LeaseID: 7}
	cur := &ZoneReport{Ready: true, Node: "n1", Epoch: 40}
	ep := &Endpoint{EndpointStatus: StatusActive, ConnectionStatus: ConnConnected, Zones: []EndpointZone{{ZoneID: "z-h"}}}
	for _, tc := range []struct {
		name string
		p    *ENIPlacement
		node *NodeStatus
		rep  *ZoneReport
		want string
	}{
		{"serving", p, up, cur, ZoneConnected},
		{"no report yet", p, up, nil, ZoneCreating},
		{"stale epoch", p, up, &ZoneReport{Ready: true, Node: "n1", Epoch: 39}, ZoneCreating},
		{"report by the previous owner", p, up, &ZoneReport{Ready: true, Node: "n0", Epoch: 40}, ZoneCreating},
		{"report without node (a zone agent's)", p, up, &ZoneReport{Ready: true}, ZoneCreating},
		{"node not ready", p, nil, cur, ZoneUnavailable},
		{"node back under a new lease, not re-confirmed", p, &NodeStatus{Name: "n1", LeaseID: 8}, cur, ZoneUnavailable},
		{"no ready node in the zone", &ENIPlacement{Epoch: 40}, nil, nil, ZoneUnavailable},
		{"agent error", p, up, &ZoneReport{Ready: true, Node: "n1", Epoch: 40, Error: "x"}, ZoneUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alive, rep := PlacedZone(tc.p, tc.node, tc.rep)
			if got := ZoneStatus(ep, "z-h", alive, rep); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
