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
