package demo

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/apiserver"
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
	var vpc model.VPC
	if err := r.customer.Post(ctx, "/v1/vpcs", apiserver.CreateVPCRequest{Name: "customer-vpc", CidrBlock: cidr}, &vpc); err != nil {
		return fmt.Errorf("customer VPC: %w", err)
	}
	var zones []apiserver.EndpointZoneRequest
	var vsws []model.VSwitch
	for i, zone := range r.sum.ZoneIDs {
		var vsw model.VSwitch
		if err := r.customer.Post(ctx, "/v1/vswitches", apiserver.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: zone, CidrBlock: fmt.Sprintf("%s.%d.0/24", prefix, 10+i)}, &vsw); err != nil {
			return fmt.Errorf("customer vSwitch: %w", err)
		}
		vsws = append(vsws, vsw)
		zones = append(zones, apiserver.EndpointZoneRequest{ZoneID: zone, VSwitchID: vsw.VSwitchID})
		r.say("  vSwitch %s in %s: %s", vsw.VSwitchID, zone, vsw.CidrBlock)
	}
	var sg model.SecurityGroup
	if err := r.customer.Post(ctx, "/v1/security-groups", apiserver.CreateSecurityGroupRequest{VpcID: vpc.VpcID, Name: "mysql-clients",
		Rules: []model.SecurityGroupRule{{Protocol: "tcp", PortRange: fmt.Sprintf("%d/%d", dbPort, dbPort), SourceCidr: cidr, Policy: "accept", Priority: 1}}}, &sg); err != nil {
		return fmt.Errorf("security group: %w", err)
	}
	r.say("  security group %s: accept tcp %d from %s", sg.SecurityGroupID, dbPort, cidr)
	if err := r.customer.Post(ctx, "/v1/hosts", apiserver.CreateHostRequest{VSwitchID: vsws[0].VSwitchID, Name: "ecs-app"}, &r.host); err != nil {
		return fmt.Errorf("customer host: %w", err)
	}
	r.vpc = vpc
	r.say("  ECS host %s (ecs-app) at %s in %s, same zone as the vendor's first instance", r.host.HostID, r.host.IP, r.host.ZoneID)

	r.stepf("customer: Endpoints > Create endpoint > Interface endpoint, search the service name")
	var found apiserver.List[model.EndpointService]
	if err := r.customer.Get(ctx, "/v1/service-search?serviceName="+url.QueryEscape(r.sum.ServiceName), &found); err != nil {
		return fmt.Errorf("search service: %w", err)
	}
	if len(found.Items) != 1 {
		return fmt.Errorf("search for %s found %d services, want 1", r.sum.ServiceName, len(found.Items))
	}
	r.say("  found %s (%s), zones %s", found.Items[0].Name, found.Items[0].Description, strings.Join(found.Items[0].Zones, ", "))
	t0 := time.Now()
	var ep model.Endpoint
	if err := r.customer.Post(ctx, "/v1/endpoints", apiserver.CreateEndpointRequest{ServiceName: r.sum.ServiceName, VpcID: vpc.VpcID,
		SecurityGroupIDs: []string{sg.SecurityGroupID}, Zones: zones, Name: "vendor-db"}, &ep); err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	r.sum.EndpointID = ep.EndpointID
	r.say("  created %s with a vSwitch in each zone; connection %s (the vendor approves connections)", ep.EndpointID, ep.ConnectionStatus)

	r.stepf("vendor: accept the connection request from the customer's endpoint")
	var conns apiserver.List[apiserver.Connection]
	if err := r.vendor.Get(ctx, "/v1/services/"+r.sum.ServiceID+"/connections", &conns); err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	for _, c := range conns.Items {
		r.say("  request from account %s, endpoint %s: %s", c.EndpointOwnerID, c.EndpointID, c.ConnectionStatus)
	}
	if err := r.vendor.Post(ctx, "/v1/services/"+r.sum.ServiceID+"/connections/"+ep.EndpointID+"/accept", nil, nil); err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	r.say("  accepted")

	r.stepf("customer: wait until the endpoint is Active and read the endpoint domain name")
	for {
		if err := r.customer.Get(ctx, "/v1/endpoints/"+ep.EndpointID, &ep); err != nil {
			return fmt.Errorf("get endpoint: %w", err)
		}
		if ep.EndpointStatus == model.StatusActive && ep.ConnectionStatus == model.ConnConnected && allConnected(ep) {
			break
		}
		if time.Since(t0) > 30*time.Second {
			return fmt.Errorf("endpoint %s not Active after 30s: %s/%s", ep.EndpointID, ep.EndpointStatus, ep.ConnectionStatus)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
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

func allConnected(ep model.Endpoint) bool {
	for _, z := range ep.Zones {
		if z.ZoneStatus != model.ZoneConnected {
			return false
		}
	}
	return true
}
