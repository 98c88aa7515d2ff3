package model

// ZoneStatus is the one decision on an endpoint zone's status, from the
// endpoint, whether the zone's agent is alive and the agent's report on
// the zone (nil when there is none): Creating until the agent reports the
// ENI ready, Connected while it serves, Disconnected while the connection
// is not accepted, Unavailable when the agent is gone or reports an error.
// The API shows it, the status controller activates an endpoint once every
// zone is Ready, and the resolver publishes only Connected zones.
func ZoneStatus(ep *Endpoint, agentAlive bool, rep *ZoneReport) string {
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
	case ep.ConnectionStatus != ConnConnected:
		return ZoneDisconnected
	default:
		return ZoneConnected
	}
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
