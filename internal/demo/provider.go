package demo

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
)

// provider: the vendor's VPC, one database instance per zone, the endpoint
// service, and the "Connect > PrivateLink" panel.
func (r *run) provider(ctx context.Context) error {
	b, err := scenario.NewBuilder(ctx, r.admin, "vendor", "customer")
	if err != nil {
		return err
	}
	b.Progress = r.narrate
	r.sc = scenario.New(b, r.plan())
	r.stepf("vendor: a VPC with a database instance in each zone")
	if err := r.sc.CreateProvider(ctx); err != nil {
		return err
	}
	vpc := r.sc.ProviderNet.VPC
	for _, h := range r.sc.ProviderNet.Hosts {
		if err := r.startDB(ctx, vpc.VpcID, h); err != nil {
			return err
		}
		r.say("  instance %s: privlink-sampledb on %s:%d in %s (vendor VPC %s, %s)", h.Name, h.IP, dbPort, h.ZoneID, vpc.VpcID, vpc.CidrBlock)
	}
	r.stepf("vendor: publish the instance as an endpoint service (port %d, zone affinity, PROXY protocol, manual approval)", dbPort)
	if err := r.sc.CreateService(ctx); err != nil {
		return err
	}
	svc := r.sc.Service
	r.sum.ServiceName, r.sum.ServiceID, r.sum.RegionID, r.sum.ZoneIDs = svc.Name, svc.ServiceID, svc.RegionID, svc.Zones
	r.say("  allow-listed the customer's account %s", b.ConsumerID)
	r.say("")
	r.say("  +--- Instance console: Connect > third-party tools > PrivateLink -----------")
	r.say("  | Service name : %s", svc.Name)
	r.say("  | Zone IDs     : %s", strings.Join(svc.Zones, ", "))
	r.say("  | Region ID    : %s", svc.RegionID)
	r.say("  +---------------------------------------------------------------------------")
	return nil
}

// plan is the canonical scenario in the guide's words. Without isolation
// (loopback) the customer's VPC avoids the vendor's addresses.
func (r *run) plan() scenario.Plan {
	return demoPlan(r.srv.Config().Zones, r.srv.Driver.Name == "loopback")
}

// demoPlan is the canonical scenario in the guide's words, on zones.
func demoPlan(zones []string, loopback bool) scenario.Plan {
	o := scenario.Options{Zones: zones, Port: dbPort, ZoneAffinity: true, ProxyProtocol: true}
	if loopback {
		o.ConsumerCIDR = "172.16.0.0/16"
	}
	p := scenario.Canonical(o)
	p.Service.ProxyTLVs = model.ProxyTLVNames // the sample database accepts any header size
	p.Provider.Name, p.Service.Description = "vendor-db-vpc", "MatrixOne-compatible instance"
	p.Consumer.Name, p.Consumer.VSwitches = "customer-vpc", scenario.PerZone(o.Zones, 10)
	p.Consumer.SecurityGroup.Name, p.Consumer.Hosts[0].Name, p.Endpoint.Name = "mysql-clients", "ecs-app", "vendor-db"
	return p
}

// sampleDB finds privlink-sampledb next to this executable or on PATH.
func sampleDB() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "privlink-sampledb")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("privlink-sampledb"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("privlink-sampledb not found next to privlink or on PATH; build it: go build -o bin/ ./cmd/...")
}

// startDB runs one sampledb inside the vendor host and waits until it listens.
func (r *run) startDB(ctx context.Context, vpcID string, h model.Host) error {
	bin, err := sampleDB()
	if err != nil {
		return err
	}
	ip := h.IP
	listen := fmt.Sprintf(":%d", dbPort)
	if r.srv.Driver.Name == "loopback" {
		listen = netip.AddrPortFrom(r.srv.Driver.Sockets.MapAddr(vpcID, ip), dbPort).String()
	}
	// The host's namespace is made by its zone agent; wait for it.
	var cmd *exec.Cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd = r.srv.Driver.Sockets.ExecCommand(ctx, h.HostID, []string{bin, "--listen", listen, "--user", dbUser + "=" + dbPassword})
		if r.srv.Driver.Sockets.HasHost(h.HostID) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(r.dir, "sampledb-"+h.ZoneID+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start privlink-sampledb in %s: %w", h.HostID, err)
	}
	r.procs = append(r.procs, cmd.Process)
	return r.waitListening(ctx, vpcID, netip.AddrPortFrom(ip, dbPort), logf.Name())
}

// waitListening dials the backend from the vendor's VPC until it answers.
func (r *run) waitListening(ctx context.Context, vpcID string, addr netip.AddrPort, logName string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := r.srv.Driver.Sockets.Dial(dctx, vpcID, addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logName)
	return fmt.Errorf("privlink-sampledb did not listen on %s within 15s; its log:\n%s", addr, log)
}
