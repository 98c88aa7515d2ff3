//go:build linux

package demo

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/lab"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
)

// provider: the vendor's VPC with an instance on n1 and one on n3, and the
// endpoint service.
func (r *nodesRun) provider(ctx context.Context) error {
	b, err := scenario.NewBuilder(ctx, r.admin, "vendor", "customer")
	if err != nil {
		return err
	}
	r.sc = scenario.New(b, r.plan())
	r.stepf("vendor: a VPC with a database instance in each zone, on machines n1 and n3")
	if err := r.sc.CreateProvider(ctx); err != nil {
		return err
	}
	bin, err := sampleDBNextTo(r.o.Bin)
	if err != nil {
		return err
	}
	vpc := r.sc.ProviderNet.VPC
	for _, h := range r.sc.ProviderNet.Hosts {
		if err := r.waitHost(ctx, h); err != nil {
			return err
		}
		p, err := r.lab.Node(h.NodeName).Start("sampledb-"+h.ZoneID, []string{"ip", "netns", "exec", r.hostNS(h),
			bin, "--listen", fmt.Sprintf(":%d", dbPort), "--user", dbUser + "=" + dbPassword})
		if err != nil {
			return fmt.Errorf("start privlink-sampledb in %s: %w", h.HostID, err)
		}
		if err := r.waitListening(ctx, h, p); err != nil {
			return err
		}
		r.say("  instance %s on node %s: privlink-sampledb on %s:%d in %s (vendor VPC %s)", h.Name, h.NodeName, h.IP, dbPort, h.ZoneID, vpc.VpcID)
	}
	r.stepf("vendor: publish the instance as an endpoint service (port %d, zone affinity, PROXY protocol, manual approval)", dbPort)
	if err := r.sc.CreateService(ctx); err != nil {
		return err
	}
	svc := r.sc.Service
	r.sum.ServiceName, r.sum.ServiceID, r.sum.RegionID, r.sum.ZoneIDs = svc.Name, svc.ServiceID, svc.RegionID, svc.Zones
	r.say("  Service name : %s", svc.Name)
	r.say("  Zone IDs     : %s", strings.Join(svc.Zones, ", "))
	r.say("  Region ID    : %s", svc.RegionID)
	return nil
}

// waitHost waits until the host's node agent has made its namespace.
func (r *nodesRun) waitHost(ctx context.Context, h model.Host) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := r.inHost(ctx, h, "true").Run()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("host %s: node %s's agent did not make namespace %s: %v", h.HostID, h.NodeName, r.hostNS(h), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitListening waits until privlink-sampledb listens in host h: its
// namespace's /proc/net/tcp has a LISTEN socket on the port.
func (r *nodesRun) waitListening(ctx context.Context, h model.Host, p *lab.Proc) error {
	port := fmt.Sprintf(":%04X ", dbPort)
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _ := r.inHost(ctx, h, "cat", "/proc/net/tcp", "/proc/net/tcp6").Output()
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 3 && strings.HasSuffix(f[1]+" ", port) && f[3] == "0A" {
				return nil
			}
		}
		if !p.Running() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("privlink-sampledb does not listen on %s:%d in host %s: %s", h.IP, dbPort, h.HostID, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consumer: the customer's VPC with the ECS host on n2, the endpoint in
// both zones, the vendor's approval.
func (r *nodesRun) consumer(ctx context.Context) error {
	r.stepf("customer: a VPC (%s, the same CIDR as the vendor's), a vSwitch in each zone, an ECS host on machine n2",
		r.sc.Plan.Consumer.CIDR)
	if err := r.sc.CreateConsumer(ctx); err != nil {
		return err
	}
	r.host = r.sc.ConsumerNet.Hosts[0]
	r.say("  ECS host %s (%s) at %s in %s on node %s", r.host.HostID, r.host.Name, r.host.IP, r.host.ZoneID, r.host.NodeName)
	r.stepf("customer: create an interface endpoint to %s; vendor: accept it", r.sum.ServiceName)
	t0 := time.Now()
	if err := r.sc.CreateEndpoint(ctx); err != nil {
		return err
	}
	r.sum.EndpointID = r.sc.Endpoint.EndpointID
	if _, err := r.sc.Provider.AcceptConnection(ctx, r.sum.ServiceID, r.sum.EndpointID); err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	wctx, cancel := context.WithDeadline(ctx, t0.Add(60*time.Second))
	defer cancel()
	ep, err := r.sc.Consumer.WaitEndpoint(wctx, r.sum.EndpointID, serving, nil)
	if err != nil {
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

// connect runs the mysql client on the customer's host, by endpoint domain.
func (r *nodesRun) connect(ctx context.Context) error {
	r.sum.Client = "mysql CLI"
	r.sum.MySQLCommand = fmt.Sprintf("mysql -h %s -P %d -u %s -p", r.sum.EndpointDomain, dbPort, dbUser)
	if err := r.waitDNS(ctx); err != nil {
		return err
	}
	r.stepf("customer, on ECS host %s (node %s): %s", r.host.HostID, r.host.NodeName, r.sum.MySQLCommand)
	var err error
	if r.sum.Query, err = r.mysql(ctx, r.sum.EndpointDomain, writeSQL); err != nil {
		return err
	}
	r.table(r.sum.Query)
	r.stepf("vendor: which endpoint did this session come from? (PROXY protocol v2)")
	if r.sum.ProviderSaw, err = r.mysql(ctx, r.sum.EndpointDomain, infoSQL); err != nil {
		return err
	}
	r.table(r.sum.ProviderSaw)
	if len(r.sum.ProviderSaw) < 2 || len(r.sum.ProviderSaw[1]) < 3 || r.sum.ProviderSaw[1][2] != r.sum.EndpointID {
		return fmt.Errorf("the vendor's instance did not see endpoint %s: %v", r.sum.EndpointID, r.sum.ProviderSaw)
	}
	r.say("\nDone: the customer on n2 reached the vendor's database at %s through PrivateLink, across machines.", r.sum.EndpointDomain)
	return nil
}

// waitDNS waits until the host's resolver (its VPC's, on its node) answers
// the endpoint domain with every zone's address.
func (r *nodesRun) waitDNS(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := r.inHost(ctx, r.host, "getent", "ahostsv4", r.sum.EndpointDomain).Output()
		ips := map[string]bool{}
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				ips[f[0]] = true
			}
		}
		if err == nil && len(ips) == len(r.sum.ZoneIPs) {
			var list []string
			for _, ip := range r.sum.ZoneIPs {
				list = append(list, ip)
			}
			r.say("  the VPC resolver on n2 answers %s with %d addresses", r.sum.EndpointDomain, len(list))
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("endpoint domain %s does not resolve to every zone on host %s: %q %v", r.sum.EndpointDomain, r.host.HostID, out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mysql runs the mysql CLI in the customer's host and returns the last
// result set, header first.
func (r *nodesRun) mysql(ctx context.Context, host, q string) ([][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	for try := 1; ; try++ {
		var rows [][]string
		if rows, err = r.mysqlOnce(ctx, host, q); err == nil || try == 3 || ctx.Err() != nil {
			return rows, err
		}
		r.say("  (try %d: %v; again in 1s)", try, err)
		time.Sleep(time.Second)
	}
}

func (r *nodesRun) mysqlOnce(ctx context.Context, host, q string) ([][]string, error) {
	cmd := r.inHost(ctx, r.host, "mysql", "--no-defaults", "-h", host, "-P", strconv.Itoa(dbPort), "-u", dbUser, "-p"+dbPassword,
		"--skip-ssl", "--connect-timeout=10", "-B", "demo", "-e", q)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("mysql -h %s: %v: %s", host, err, strings.TrimSpace(errOut.String()))
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows, nil
}

func (r *nodesRun) table(rows [][]string) {
	for _, row := range rows {
		r.say("  | %s", strings.Join(row, " | "))
	}
}

// printKeep tells the user how to look at the running lab by hand.
func (r *nodesRun) printKeep() {
	n := r.lab.Node(r.host.NodeName)
	r.say("\n== Everything is still running (--keep). Try it by hand in another terminal:")
	r.say("  nsenter --net=/run/netns/%s %s node list --server %s --token %s --cacert %s",
		r.lab.Nodes[len(r.lab.Nodes)-1].Namespace, r.o.Bin, r.region.APIURL(0), r.region.Token, r.region.CAFile)
	r.say("  ip netns exec %s mysql -h %s -P %d -u %s -p%s --skip-ssl    # on the ECS host (node %s)",
		r.hostNS(r.host), r.sum.EndpointDomain, dbPort, dbUser, dbPassword, n.Name)
	r.say("  process logs: %s", r.lab.Dir)
	r.say("Press Ctrl-C to stop; the lab is closed.")
}
