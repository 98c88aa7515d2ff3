package dns

import (
	"net"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzHandler feeds arbitrary bytes through unpack and the handler (with a
// fake ResponseWriter as the write sink) and checks that it never panics and
// that whatever it writes is a well-formed reply of the right size.
func FuzzHandler(f *testing.F) {
	seed := func(name string, qtype uint16, mod func(*mdns.Msg)) {
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		if mod != nil {
			mod(m)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(ep1, mdns.TypeA, nil)
	seed(ep1, mdns.TypeAAAA, func(m *mdns.Msg) { m.SetEdns0(1232, true) })
	seed(epBig, mdns.TypeA, func(m *mdns.Msg) { m.SetEdns0(600, false) })
	seed(testZone, mdns.TypeSOA, nil)
	seed(testZone, mdns.TypeANY, nil)
	seed("svc."+testZone, mdns.TypeA, nil)
	seed("example.com.", mdns.TypeA, nil)
	seed(ep1, mdns.TypeA, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeUpdate })
	seed(ep1, mdns.TypeA, func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) })
	seed(ep1, mdns.TypeA, func(m *mdns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(3) })
	f.Add([]byte{})
	f.Add([]byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0})

	s, err := New(Config{Zone: testZone})
	if err != nil {
		f.Fatal(err)
	}
	s.noRecover = true // let the fuzzer see panics
	s.SetSnapshot(testSnapshot(1))
	notReady, err := New(Config{Zone: testZone})
	if err != nil {
		f.Fatal(err)
	}
	notReady.noRecover = true
	handlers := []mdns.Handler{s.Handler(vpcA), s.Handler(vpcB), s.Handler(vpcNone), notReady.Handler(vpcA)}
	udp := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	tcp := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}

	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(mdns.Msg)
		if err := req.Unpack(data); err != nil {
			return
		}
		for _, h := range handlers {
			for _, local := range []net.Addr{udp, tcp} {
				w := &fakeWriter{local: local}
				h.ServeDNS(w, req)
				if req.Response {
					if len(w.msgs) != 0 {
						t.Fatalf("answered a response")
					}
					continue
				}
				if len(w.msgs) != 1 {
					t.Fatalf("%d messages written, want 1", len(w.msgs))
				}
				limit := mdns.MaxMsgSize
				if local == udp {
					limit = s.udpSize(req)
				}
				if len(w.msgs[0]) > limit {
					t.Fatalf("reply %d bytes > limit %d", len(w.msgs[0]), limit)
				}
				r := new(mdns.Msg)
				if err := r.Unpack(w.msgs[0]); err != nil {
					t.Fatalf("reply does not unpack: %v", err)
				}
				if !r.Response || r.Id != req.Id {
					t.Fatalf("bad reply header: %v", r.MsgHdr)
				}
			}
		}
	})
}
