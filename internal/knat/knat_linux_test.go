package knat

import (
	"strings"
	"testing"
)

// A client in the consumer VPC reaches a backend in the provider VPC
// through ENI:port although both VPCs use the same CIDR and the same host
// address; the backend sees the endpoint's SNAT source.
func TestDNATSNATOverlappingCIDRs(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	if err := w.pair.Apply([]Flow{flow("ep1", 80, be("10.0.0.10:8080", "a", true))}); err != nil {
		t.Fatal(err)
	}
	c, line, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		dumpNS(t, w.cR, w.pR)
		t.Fatalf("connect through the pair: %v", err)
	}
	defer c.Close()
	if want := "svc " + snatAddr.String(); line != want {
		t.Fatalf("backend greeting %q, want %q", line, want)
	}
	if err := echo(c, strings.Repeat("x", 100000)); err != nil {
		t.Fatalf("echo: %v", err)
	}
}
