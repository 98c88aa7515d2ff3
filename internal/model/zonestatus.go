package model

// ZoneStatus is the one decision on an endpoint zone's status, from the
// endpoint, whether the zone's agent is alive and the agent's report on
// the zone (nil when there is none): Creating until the agent reports the
// ENI ready, Connected while it serves, Disconnected while the connection
// is not accepted (or the provider disabled the zone's), Unavailable when the agent is gone or reports an error.
// The API shows it, the status controller activates an endpoint once every
// zone is Ready, and the resolver publishes only Connected zones.
func ZoneStatus(ep *Endpoint, zoneID string, agentAlive bool, rep *ZoneReport) string {
	switch {
	case rep == nil && agentAlive:
		return ZoneCreating
	case !agentAlive:
		if ep.EndpointStatus == StatusCreating {
			return ZoneCreating
		}
		return ZoneUnavailable
	case rep.Error != "":
		return ZoneUnavailable
	case !rep.Ready:
		return ZoneCreating
	case ep.ConnectionStatus != ConnConnected || ep.ZoneDisabled(zoneID):
		return ZoneDisconnected
	default:
		return ZoneConnected
	}
}

// ZoneDisabled reports whether the provider disabled the connection of
// the endpoint's zone zoneID.
func (ep *Endpoint) ZoneDisabled(zoneID string) bool {
	for _, z := range ep.Zones {
		if z.ZoneID == zoneID {
			return z.ConnectionDisabled
		}
	}
	return false
}

// Carries reports whether an endpoint's traffic may flow to svc: the
// connection is accepted and the endpoint's account is still admitted (the
// data plane checks both, so a state that raced a revocation still serves
// nothing). svc may be nil (deleted).
func Carries(ep *Endpoint, svc *EndpointService) bool {
	return svc != nil && ep.ConnectionStatus == ConnConnected && svc.Admits(ep.AccountID)
}

// ZoneReady reports whether a zone status means the ENI is in place (the
// zone serves, or would once the connection is accepted).
func ZoneReady(status string) bool { return status == ZoneConnected || status == ZoneDisconnected }

// PlacedZone decides, for an endpoint zone with an ENI placement, what
// ZoneStatus needs: the zone is alive only while its placement names a
// node that is ready (node is its liveness record, nil when it has none)
// under the lease the placement was made or re-confirmed for, and the
// report counts only if that node wrote it for the placement's current
// epoch. A report from an earlier owner or an earlier epoch (a late write,
// a node that came back) is treated as no report, so it never makes the
// zone ready.
func PlacedZone(p *ENIPlacement, node *NodeStatus, rep *ZoneReport) (alive bool, current *ZoneReport) {
	alive = p.Node != "" && node != nil && node.LeaseID == p.NodeLease
	if rep != nil && alive && rep.Node == p.Node && rep.Epoch == p.Epoch {
		current = rep
	}
	return alive, current
}
