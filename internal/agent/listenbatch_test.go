package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/testenv"
)

// TestListenerBatchesAcrossVPCs: two consumer VPCs with the same CIDR hold
// 12 endpoints each (different ENI addresses), and a zone agent's first
// round opens all 24 listeners in batches of 5 (cut per VPC, 4 batches at
// once). Every endpoint answers from its own VPC's host and no other
// address of the other VPC does: a batch that lost a listener or opened
// it in the other VPC's namespace fails this. After a restart with one
// address taken by another socket, that one listener fails alone (the
// rest of its batch serves) and is opened once the address is free.
func TestListenerBatchesAcrossVPCs(t *testing.T) {
	agent.SetListenBatch(t, 5)
	const zone, perVPC = "cn-hangzhou-h", 12
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-i"}})
	ctx := context.Background()
	b, err := scenario.NewBuilder(ctx, e.Admin, "provider", "consumer")
	must(t, err)
	plan := scenario.Canonical(scenario.Options{Zones: []string{zone}, AutoAccept: true, NoEndpoint: true})
	s := scenario.New(b, plan)
	must(t, s.Build(ctx))
	netB, err := b.Network(ctx, scenario.ConsumerSide, plan.Consumer)
	must(t, err)
	type side struct {
		net  scenario.Network
		ips  []string
		host string
	}
	sides := []*side{{net: s.ConsumerNet}, {net: netB}}
	for i, sd := range sides {
		sd.host = sd.net.Hosts[0].HostID
		base := sd.net.VSwitches[0].CidrBlock.Addr().As4()
		for j := range perVPC {
			base[3] = byte(100 + 50*i + j)
			ip := netip.AddrFrom4(base).String()
			_, err := b.Consumer.CreateEndpoint(ctx, api.CreateEndpointRequest{ServiceName: s.Service.Name, VpcID: sd.net.VPC.VpcID,
				SecurityGroupIDs: []string{sd.net.SG.SecurityGroupID},
				Zones:            []api.EndpointZoneRequest{{ZoneID: zone, VSwitchID: sd.net.VSwitches[0].VSwitchID, IP: ip}}})
			must(t, err)
			sd.ips = append(sd.ips, ip)
		}
	}

	// check: every endpoint answers from its own VPC, none from the other.
	check := func(skip string) {
		t.Helper()
		for _, sd := range sides {
			for _, ip := range sd.ips {
				if ip == skip {
					continue
				}
				testenv.Eventually(t, "hello via "+ip, func() error {
					got, err := hello(t, e, sd.host, ip+":6001")
					if err == nil && got != "backend hi" {
						err = fmt.Errorf("answer %q", got)
					}
					return err
				})
			}
		}
		// The other VPC's host: no answer on any of these addresses
		// (each attempt waits for its timeout: all at once).
		var wg sync.WaitGroup
		for i, sd := range sides {
			for _, ip := range sd.ips {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if got, err := hello(t, e, sides[1-i].host, ip+":6001"); err == nil {
						t.Errorf("%s answered from the other VPC: %q", ip, got)
					}
				}()
			}
		}
		wg.Wait()
	}
	// up: right after the agent's first round, every listener but skip
	// accepts (no retry: a listener the round failed to open, even one a
	// later round would open, fails this).
	up := func(skip string) {
		t.Helper()
		for _, sd := range sides {
			for _, ip := range sd.ips {
				if ip == skip {
					continue
				}
				c, err := dialFrom(t, e, sd.host, ip+":6001")
				if err != nil {
					t.Errorf("%s after the first round: %v", ip, err)
					continue
				}
				c.Close()
			}
		}
	}
	stop := startSyncedAgent(t, e, zone) // makes the hosts of the zone too
	up("")
	serveHello(t, e, s.ProviderNet.Hosts[0].HostID, 6001, "backend")
	check("")

	// Restart with one address taken: that listener fails alone.
	stop()
	taken := sides[0].ips[3]
	squat, err := e.Driver.Sockets.Listen(sides[0].net.VPC.VpcID, mustAP(taken+":6001"))
	must(t, err)
	defer squat.Close()
	startSyncedAgent(t, e, zone)
	up(taken)
	check(taken)
	testenv.Eventually(t, "the taken listener's error reported", func() error {
		for _, rep := range e.Cache.State().Reports {
			if rep.ZoneID == zone && strings.Contains(rep.Error, taken+":6001") && strings.Contains(rep.Error, "address already in use") {
				return nil
			}
		}
		return errors.New("no report names it")
	})
	squat.Close()
	check("")
}
