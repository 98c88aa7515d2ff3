package dns

import (
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestDualStackAAAA: a dual-stack name answers A with its IPv4 and AAAA
// with its IPv6 addresses (each rotated, deduplicated), ANY both; an
// IPv4-only name keeps answering AAAA with NODATA + SOA; an IPv6-only
// name answers A with NODATA. Checked with miekg over UDP and TCP and with
// dig.
func TestDualStackAAAA(t *testing.T) {
	v6a, v6b := netip.MustParseAddr("fd12:3456:789a:1::5"), netip.MustParseAddr("fd12:3456:789a:2::5")
	only6 := "only6." + testZone
	snap := testSnapshot(7)
	snap.Views[vpcA][ep1] = []netip.Addr{ip1, v6a, ip2, v6b, v6a}
	snap.Views[vpcA][only6] = []netip.Addr{v6a}
	s := newServer(t, Config{}, snap)
	addr := serveVPC(t, s, vpcA)
	addrB := serveVPC(t, s, vpcB)

	rdata := func(m *mdns.Msg, typ uint16) []string {
		var out []string
		for _, rr := range m.Answer {
			switch r := rr.(type) {
			case *mdns.A:
				if typ == mdns.TypeA {
					out = append(out, r.A.String())
				}
			case *mdns.AAAA:
				if typ == mdns.TypeAAAA {
					out = append(out, r.AAAA.String())
				}
			}
		}
		slices.Sort(out)
		return out
	}
	for _, netw := range []string{"udp", "tcp"} {
		t.Run(netw, func(t *testing.T) {
			m := exchange(t, netw, addr, ep1, mdns.TypeAAAA)
			if got := rdata(m, mdns.TypeAAAA); m.Rcode != mdns.RcodeSuccess || !m.Authoritative || !slices.Equal(got, []string{v6a.String(), v6b.String()}) || len(m.Answer) != 2 {
				t.Errorf("AAAA %s: rcode %d aa %v answers %v", ep1, m.Rcode, m.Authoritative, m.Answer)
			}
			m = exchange(t, netw, addr, ep1, mdns.TypeA)
			if got := rdata(m, mdns.TypeA); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) || len(m.Answer) != 2 {
				t.Errorf("A %s: answers %v", ep1, m.Answer)
			}
			m = exchange(t, netw, addr, ep1, mdns.TypeANY)
			if len(rdata(m, mdns.TypeA)) != 2 || len(rdata(m, mdns.TypeAAAA)) != 2 {
				t.Errorf("ANY %s: answers %v", ep1, m.Answer)
			}
			m = exchange(t, netw, addr, ep2, mdns.TypeAAAA) // IPv4 only: NODATA
			if m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 {
				t.Errorf("AAAA of an IPv4-only name: rcode %d answer %v ns %v", m.Rcode, m.Answer, m.Ns)
			}
			m = exchange(t, netw, addr, only6, mdns.TypeA) // IPv6 only: A NODATA
			if m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 {
				t.Errorf("A of an IPv6-only name: rcode %d answer %v ns %v", m.Rcode, m.Answer, m.Ns)
			}
			m = exchange(t, netw, addrB, ep1, mdns.TypeAAAA) // another VPC's view
			if m.Rcode != mdns.RcodeNameError {
				t.Errorf("AAAA from another VPC: rcode %d, want NXDOMAIN", m.Rcode)
			}
		})
	}
	t.Run("dig", func(t *testing.T) {
		d := runDig(t, addr, ep1, "AAAA")
		got := digRdata(d.answer, "AAAA")
		slices.Sort(got)
		if d.status != "NOERROR" || !d.hasFlag("aa") || !slices.Equal(got, []string{v6a.String(), v6b.String()}) {
			t.Errorf("dig AAAA: status %s flags %v answers %v\n%s", d.status, d.flags, got, d.out)
		}
	})
}
