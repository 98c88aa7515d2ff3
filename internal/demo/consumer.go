package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// consumer: the customer's VPC, the interface endpoint across both zones,
// the vendor's approval, and the endpoint domain.
func (r *run) consumer(ctx context.Context) error {
	cidr, prefix := "192.168.0.0/16", "192.168"
	if r.srv.Driver.Name == "loopback" {
		cidr, prefix = "172.16.0.0/16", "172.16" // loopback has no isolation: avoid the vendor's addresses
	}
	r.stepf("customer: a VPC (%s%s), a vSwitch in each zone, a security group and an ECS host", cidr,
		map[bool]string{true: ", the same CIDR as the vendor's: PrivateLink needs no peering or routes", false: ""}[cidr == "192.168.0.0/16"])
	vpc, err := r.customer.CreateVPC(ctx, api.CreateVPCRequest{Name: "customer-vpc", CidrBlock: cidr})
	if err != nil {
		return fmt.Errorf("customer VPC: %w", err)
	}
	var zones []api.EndpointZoneRequest
	var vsws []model.VSwitch
	for i, zone := range r.sum.ZoneIDs {
		vsw, err := r.customer.CreateVSwitch(ctx, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: zone, CidrBlock: fmt.Sprintf("%s.%d.0/24", prefix, 10+i)})
		if err != nil {
			return fmt.Errorf("customer vSwitch: %w", err)
		}
		vsws = append(vsws, vsw)
		zones = append(zones, api.EndpointZoneRequest{ZoneID: zone, VSwitchID: vsw.VSwitchID})
		r.say("  vSwitch %s in %s: %s", vsw.VSwitchID, zone, vsw.CidrBlock)
	}
	sg, err := r.customer.CreateSecurityGroup(ctx, api.CreateSecurityGroupRequest{VpcID: vpc.VpcID, Name: "mysql-clients",
		Rules: []model.SecurityGroupRule{{Protocol: "tcp", PortRange: fmt.Sprintf("%d/%d", dbPort, dbPort), SourceCidr: cidr, Policy: "accept", Priority: 1}}})
	if err != nil {
		return fmt.Errorf("security group: %w", err)
	}
	r.say("  security group %s: accept tcp %d from %s", sg.SecurityGroupID, dbPort, cidr)
	if r.host, err = r.customer.CreateHost(ctx, api.CreateHostRequest{VSwitchID: vsws[0].VSwitchID, Name: "ecs-app"}); err != nil {
		return fmt.Errorf("customer host: %w", err)
	}
	r.vpc = vpc
	r.say("  ECS host %s (ecs-app) at %s in %s, same zone as the vendor's first instance", r.host.HostID, r.host.IP, r.host.ZoneID)

	r.stepf("customer: Endpoints > Create endpoint > Interface endpoint, search the service name")
	found, err := r.customer.SearchServices(ctx, r.sum.ServiceName)
	if err != nil {
		return fmt.Errorf("search service: %w", err)
	}
	if len(found) != 1 {
		return fmt.Errorf("search for %s found %d services, want 1", r.sum.ServiceName, len(found))
	}
	r.say("  found %s (%s), zones %s", found[0].Name, found[0].Description, strings.Join(found[0].Zones, ", "))
	t0 := time.Now()
	ep, err := r.customer.CreateEndpoint(ctx, api.CreateEndpointRequest{ServiceName: r.sum.ServiceName, VpcID: vpc.VpcID,
		SecurityGroupIDs: []string{sg.SecurityGroupID}, Zones: zones, Name: "vendor-db"})
	if err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	r.sum.EndpointID = ep.EndpointID
	r.say("  created %s with a vSwitch in each zone; connection %s (the vendor approves connections)", ep.EndpointID, ep.ConnectionStatus)

	r.stepf("vendor: accept the connection request from the customer's endpoint")
	conns, err := r.vendor.ListConnections(ctx, r.sum.ServiceID)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	for _, c := range conns {
		r.say("  request from account %s, endpoint %s: %s", c.EndpointOwnerID, c.EndpointID, c.ConnectionStatus)
	}
	if _, err := r.vendor.AcceptConnection(ctx, r.sum.ServiceID, ep.EndpointID); err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	r.say("  accepted")

	r.stepf("customer: wait until the endpoint is Active and read the endpoint domain name")
	wctx, cancel := context.WithDeadline(ctx, t0.Add(30*time.Second))
	defer cancel()
	if ep, err = r.customer.WaitEndpoint(wctx, ep.EndpointID, serving, nil); err != nil {
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
	r.ep = ep
	return nil
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
