package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
)

// consumer: the customer's VPC, the interface endpoint across both zones,
// the vendor's approval, and the endpoint domain.
func (r *run) consumer(ctx context.Context) error {
	cidr := r.sc.Plan.Consumer.CIDR
	r.stepf("customer: a VPC (%s%s), a vSwitch in each zone, a security group and an ECS host", cidr,
		map[bool]string{true: ", the same CIDR as the vendor's: PrivateLink needs no peering or routes", false: ""}[cidr == r.sc.Plan.Provider.CIDR])
	if err := r.sc.CreateConsumer(ctx); err != nil {
		return err
	}
	r.host = r.sc.ConsumerNet.Hosts[0]

	r.stepf("customer: Endpoints > Create endpoint > Interface endpoint, search the service name")
	found, err := r.sc.Consumer.SearchServices(ctx, r.sum.ServiceName)
	if err != nil {
		return fmt.Errorf("search service: %w", err)
	}
	if len(found) != 1 {
		return fmt.Errorf("search for %s found %d services, want 1", r.sum.ServiceName, len(found))
	}
	r.say("  found %s (%s), zones %s", found[0].Name, found[0].Description, strings.Join(found[0].Zones, ", "))
	t0 := time.Now()
	if err := r.sc.CreateEndpoint(ctx); err != nil {
		return err
	}
	ep := r.sc.Endpoint
	r.sum.EndpointID = ep.EndpointID

	r.stepf("vendor: accept the connection request from the customer's endpoint")
	conns, err := r.sc.Provider.ListConnections(ctx, r.sum.ServiceID)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	for _, c := range conns {
		r.say("  request from account %s, endpoint %s: %s", c.EndpointOwnerID, c.EndpointID, c.ConnectionStatus)
	}
	if _, err := r.sc.Provider.AcceptConnection(ctx, r.sum.ServiceID, ep.EndpointID); err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	r.say("  accepted")

	r.stepf("customer: wait until the endpoint is Active and read the endpoint domain name")
	wctx, cancel := context.WithDeadline(ctx, t0.Add(30*time.Second))
	defer cancel()
	if ep, err = r.sc.Consumer.WaitEndpoint(wctx, ep.EndpointID, serving, nil); err != nil {
		return err
	}
	r.sum.ActiveAfterMs = time.Since(t0).Milliseconds()
	r.sum.EndpointDomain = ep.EndpointDomain
	r.sum.ZoneDomains, r.sum.ZoneIPs = map[string]string{}, map[string]string{}
	r.say("  Active %s after create (including the approval)", time.Since(t0).Round(time.Millisecond))
	r.say("  Endpoint domain : %s", ep.EndpointDomain)
	for _, z := range ep.Zones {
		r.sum.ZoneDomains[z.ZoneID], r.sum.ZoneIPs[z.ZoneID] = z.ZoneDomain, z.IP.String()
		r.say("  Zone %s  : %s -> %s (%s)", z.ZoneID, z.ZoneDomain, z.IP, z.ZoneStatus)
	}
	return nil
}

// narrate tells the customer's resources as the scenario creates them.
func (r *run) narrate(ev scenario.Event) {
	if ev.Side != scenario.ConsumerSide {
		return
	}
	switch v := ev.Resource.(type) {
	case model.VSwitch:
		r.say("  vSwitch %s in %s: %s", v.VSwitchID, v.ZoneID, v.CidrBlock)
	case model.SecurityGroup:
		r.say("  security group %s: accept tcp %d from %s", v.SecurityGroupID, dbPort, r.sc.Plan.Consumer.CIDR)
	case model.Host:
		r.say("  ECS host %s (%s) at %s in %s, same zone as the vendor's first instance", v.HostID, v.Name, v.IP, v.ZoneID)
	case model.Endpoint:
		r.say("  created %s with a vSwitch in each zone; connection %s (the vendor approves connections)", v.EndpointID, v.ConnectionStatus)
	}
}

// serving reports whether the endpoint is Active, connected, and serving in
// every zone.
func serving(ep model.Endpoint) bool {
	if ep.EndpointStatus != model.StatusActive || ep.ConnectionStatus != model.ConnConnected {
		return false
	}
	for _, z := range ep.Zones {
		if z.ZoneStatus != model.ZoneConnected {
			return false
		}
	}
	return true
}
