package apiserver_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/testenv"
	"github.com/privlink/privlink/internal/traffic"
)

// TestTrafficAPI sends a real load through an endpoint (network namespaces,
// the proxy) and reads it back through GET /v1/endpoints/{id}/traffic (the
// consumer) and GET /v1/services/{id}/traffic (the provider), with each
// backend's last check and latency per zone.
func TestTrafficAPI(t *testing.T) {
	testenv.NeedRoot(t)
	e := testenv.Start(t, testenv.Options{Server: func(c *server.Config) { c.TrafficReportEvery = 300 * time.Millisecond }})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for _, h := range s.ProviderHosts {
		e.Serve(t, h.HostID, 6001, func(c net.Conn) { _, _ = io.Copy(c, c) }) // echo
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	addr := netip.AddrPortFrom(ep.Zones[0].IP, 6001)

	const conns, msg = 20, "0123456789abcdef\n"
	dial := func() net.Conn {
		ctx, cancel := context.WithTimeout(bg, 3*time.Second)
		defer cancel()
		c, err := e.Driver.Sockets.DialHost(ctx, s.ConsumerHost.HostID, addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	echo := func(c net.Conn) {
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != msg {
			t.Fatalf("echo: %q %v", line, err)
		}
	}
	held := dial() // stays open: one active connection
	defer held.Close()
	echo(held)
	for range conns - 1 {
		c := dial()
		echo(c)
		c.Close()
	}

	testenv.Eventually(t, "endpoint traffic", func() error {
		tr, err := s.Consumer.EndpointTraffic(bg, ep.EndpointID)
		if err != nil {
			return err
		}
		h := tr.Hour
		if n := traffic.Total(h.NewConnections); n != conns {
			return fmt.Errorf("new connections in the hour: %d, want %d", n, conns)
		}
		if n := traffic.Total(h.BytesIn); n != conns*int64(len(msg)) {
			return fmt.Errorf("bytes in: %d, want %d", n, conns*len(msg))
		}
		if n := traffic.Total(h.BytesOut); n != conns*int64(len(msg)) {
			return fmt.Errorf("bytes out: %d, want %d", n, conns*len(msg))
		}
		if h.ActiveConnections[len(h.ActiveConnections)-1] < 1 {
			return fmt.Errorf("active now: %v", h.ActiveConnections)
		}
		if traffic.Total(tr.Day.NewConnections) != conns {
			return fmt.Errorf("day new connections %d", traffic.Total(tr.Day.NewConnections))
		}
		if len(tr.Zones) != 2 || traffic.Total(tr.Zones[0].Hour.NewConnections) != conns || traffic.Total(tr.Zones[1].Hour.NewConnections) != 0 {
			return fmt.Errorf("per zone: %+v", tr.Zones)
		}
		for _, z := range tr.Zones {
			if len(z.Backends) == 0 {
				return fmt.Errorf("zone %s: no backend checks", z.ZoneID)
			}
			for _, b := range z.Backends {
				if !b.Healthy || b.CheckTime == "" || b.LatencyMs <= 0 || b.ZoneID != z.ZoneID {
					return fmt.Errorf("zone %s backend check %+v", z.ZoneID, b)
				}
			}
		}
		return nil
	})

	st, err := s.Provider.ServiceTraffic(bg, s.Service.ServiceID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Endpoints) != 1 || st.Endpoints[0].EndpointID != ep.EndpointID || st.Endpoints[0].AccountID != s.ConsumerID ||
		traffic.Total(st.Endpoints[0].Hour.NewConnections) != conns || st.Endpoints[0].Zones != nil {
		t.Errorf("service traffic endpoints: %+v", st.Endpoints)
	}
	if traffic.Total(st.Hour.BytesIn) != conns*int64(len(msg)) || st.Truncated {
		t.Errorf("service traffic sum: bytes in %d, truncated %v", traffic.Total(st.Hour.BytesIn), st.Truncated)
	}
	// every backend from every zone (the agents of both zones check all backends)
	zones := map[string]int{}
	for _, b := range st.Backends {
		if !b.Healthy || b.CheckTime == "" {
			t.Errorf("service backend check %+v", b)
		}
		zones[b.ZoneID]++
	}
	if len(zones) != 2 {
		t.Errorf("backend checks per zone: %v (%+v)", zones, st.Backends)
	}

	// Each side reads only its own: the provider not the endpoint, the consumer not the service.
	_, err = s.Provider.EndpointTraffic(bg, ep.EndpointID)
	wantCode(t, err, "EndpointNotFound")
	_, err = s.Consumer.ServiceTraffic(bg, s.Service.ServiceID)
	wantCode(t, err, "EndpointServiceNotFound")
}
