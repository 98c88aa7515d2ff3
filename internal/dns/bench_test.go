package dns

import (
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// BenchmarkQueryUDP measures queries per second through a real UDP socket on
// 127.0.0.1 (client in the same process, one socket per client goroutine).
func BenchmarkQueryUDP(b *testing.B) {
	s := newServer(b, Config{}, testSnapshot(1))
	addr := serveVPC(b, s, vpcA)
	m := new(mdns.Msg)
	m.SetQuestion(ep1, mdns.TypeA)
	query, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}

	// ask sends the query n times on one socket and checks every reply.
	ask := func(b *testing.B, c net.Conn, next func() bool) {
		buf := make([]byte, 512)
		for next() {
			if _, err := c.Write(query); err != nil {
				b.Error(err)
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				b.Error(err)
				return
			}
			// Header: QR set, RCODE 0, ANCOUNT 2.
			if n < 12 || buf[2]&0x80 == 0 || buf[3]&0x0f != 0 || buf[7] != 2 {
				b.Errorf("bad reply (%d bytes)", n)
				return
			}
		}
	}

	b.Run("serial", func(b *testing.B) {
		c, err := net.Dial("udp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		ask(b, c, b.Loop)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4) // 4 client sockets per GOMAXPROCS
		b.RunParallel(func(pb *testing.PB) {
			c, err := net.Dial("udp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			ask(b, c, pb.Next)
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	})
}
