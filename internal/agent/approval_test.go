package agent_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/sampledb"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// TestApprovalAndRevocation: a Pending endpoint refuses, accepting opens it,
// and reject and allow-list removal close a live connection within 1s.
func TestApprovalAndRevocation(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{})
	for _, h := range s.ProviderHosts {
		serveHello(t, e, h.HostID, 6001, "db")
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	addr := ep.Zones[0].IP.String() + ":6001"
	if got, err := hello(t, e, s.ConsumerHost.HostID, addr); err == nil {
		t.Fatalf("pending endpoint carried traffic: %q", got)
	}
	svc := s.Service.ServiceID
	revokers := []struct {
		name   string
		revoke func() error
		undo   func() error
	}{
		{"reject", func() error { _, err := s.Provider.RejectConnection(bg, svc, ep.EndpointID); return err }, nil},
		{"disallow", func() error {
			_, err := s.Provider.DisallowAccount(bg, svc, s.ConsumerID)
			return err
		}, func() error {
			_, err := s.Provider.AllowAccount(bg, svc, s.ConsumerID)
			return err
		}},
	}
	for _, rv := range revokers {
		t.Run(rv.name, func(t *testing.T) {
			_, err := s.Provider.AcceptConnection(bg, svc, ep.EndpointID)
			must(t, err)
			var c net.Conn
			testenv.Eventually(t, "accepted endpoint carries traffic", func() error {
				var err error
				c, err = dialFrom(t, e, s.ConsumerHost.HostID, addr)
				if err != nil {
					return err
				}
				c.SetDeadline(time.Now().Add(2 * time.Second))
				io.WriteString(c, "ping\n")
				_, err = bufio.NewReader(c).ReadString('\n')
				if err != nil {
					c.Close()
				}
				return err
			})
			defer c.Close()
			c.SetDeadline(time.Time{})
			start := time.Now()
			must(t, rv.revoke())
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err = c.Read(make([]byte, 1))
			took := time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("live connection still open %s after %s", took, rv.name)
			}
			if took > time.Second {
				t.Errorf("%s closed the live connection after %s, want < 1s", rv.name, took)
			}
			t.Logf("%s closed the live connection in %s", rv.name, took)
			if rv.undo != nil {
				must(t, rv.undo())
			}
		})
	}
}

// TestProxyProtocolAndBulk: the backend sees the consumer host's address and
// Alibaba's TLVs; 128 MiB each way arrive intact with half-close.
func TestProxyProtocolAndBulk(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, ProxyProtocol: true})
	type seen struct {
		src          string
		vpc, ep, svc string
		sumIn        [32]byte
		n            int64
	}
	got := make(chan seen, 4)
	for _, h := range s.ProviderHosts {
		var ln net.Listener
		testenv.Eventually(t, "listen in "+h.HostID, func() (err error) {
			ln, err = e.Driver.Sockets.ListenHost(h.HostID, mustAP("0.0.0.0:6001"))
			return err
		})
		t.Cleanup(func() { ln.Close() })
		pl := &proxyproto.Listener{Listener: ln}
		go func() {
			for {
				c, err := pl.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					var sv seen
					if pc, ok := c.(*proxyproto.Conn); ok && pc.ProxyHeader() != nil {
						sv.src = pc.ProxyHeader().SourceAddr.String()
						tlvs, _ := pc.ProxyHeader().TLVs()
						sv.vpc, sv.ep, sv.svc = sampledb.ParseAlibabaTLVs(tlvs)
					}
					h := sha256.New()
					sv.n, _ = io.Copy(h, c) // until the client's half-close
					copy(sv.sumIn[:], h.Sum(nil))
					// Then answer with the same amount of a known stream.
					io.Copy(c, io.LimitReader(&pattern{}, sv.n))
					if tc, ok := c.(*proxyproto.Conn).TCPConn(); ok {
						tc.CloseWrite()
					}
					got <- sv
				}()
			}
		}()
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	var c net.Conn
	testenv.Eventually(t, "dial endpoint", func() error {
		var err error
		c, err = dialFrom(t, e, s.ConsumerHost.HostID, ep.Zones[0].IP.String()+":6001")
		return err
	})
	defer c.Close()
	const size = 128 << 20
	sent := sha256.New()
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(c, sent), io.LimitReader(&pattern{}, size))
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	back := sha256.New()
	n, err := io.Copy(back, c)
	must(t, err)
	must(t, <-errc)
	var sv seen
	for sv = range got { // skip the health checks' empty connections
		if sv.n > 0 {
			break
		}
	}
	want := sha256.New()
	io.Copy(want, io.LimitReader(&pattern{}, size))
	if sv.n != size || sv.sumIn != [32]byte(sent.Sum(nil)) {
		t.Errorf("upstream: backend got %d bytes, checksum match %v", sv.n, sv.sumIn == [32]byte(sent.Sum(nil)))
	}
	if n != size || string(back.Sum(nil)) != string(want.Sum(nil)) {
		t.Errorf("downstream: got %d bytes, checksum mismatch", n)
	}
	if want := s.ConsumerHost.IP.String(); len(sv.src) < len(want) || sv.src[:len(want)+1] != want+":" {
		t.Errorf("backend saw source %s, want the consumer host %s", sv.src, want)
	}
	if sv.vpc != s.ConsumerVPC.VpcID || sv.ep != ep.EndpointID || sv.svc != "" { // the default TLVs
		t.Errorf("TLVs: vpc %q ep %q svc %q, want the VPC and endpoint IDs only", sv.vpc, sv.ep, sv.svc)
	}
}

// pattern is an endless deterministic byte stream.
type pattern struct{ off int }

func (r *pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.off*7 + r.off>>9)
		r.off++
	}
	return len(p), nil
}

// TestServesOnlyAdmittedAccounts: whatever the endpoint record says, an
// agent serves an endpoint only while its account is admitted by the
// service (here the service record is rewritten behind the API's back, as
// a revocation interrupted after its first batch would leave it): the
// listener closes, and the status controller then disconnects the record.
// (TestComputeServesOnlyAdmitted checks the agent's part alone.)
func TestServesOnlyAdmittedAccounts(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for _, h := range s.ProviderHosts {
		serveHello(t, e, h.HostID, 6001, "db")
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	addr := ep.Zones[0].IP.String() + ":6001"
	testenv.Eventually(t, "traffic before", func() error { _, err := hello(t, e, s.ConsumerHost.HostID, addr); return err })
	svc := s.Service
	svc.AllowedAccounts = nil
	b, err := json.Marshal(svc)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.PutRaw(bg, e.Store.ResourceKey(store.KindService, svc.ServiceID), string(b)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "listener closed", func() error {
		if got, err := hello(t, e, s.ConsumerHost.HostID, addr); err == nil {
			return fmt.Errorf("endpoint of a non-admitted account still answers: %q", got)
		}
		return nil
	})
	testenv.Eventually(t, "record disconnected", func() error {
		if got, err := s.Consumer.GetEndpoint(bg, ep.EndpointID); err != nil || got.ConnectionStatus != model.ConnDisconnected {
			return fmt.Errorf("endpoint of a non-admitted account: %v %s", err, got.ConnectionStatus)
		}
		return nil
	})
}
