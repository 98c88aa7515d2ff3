package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/handoff"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/store"
)

// UDP ports of services: the agent's narrow hook. compute's endpoint zones
// (ENIs, VPCs) are reused; each UDP port of a carried service gets a
// proxy.UDPListener on the ENI, with its own health checker per provider
// VPC and probe (UDP and TCP backends share addresses and ports, so they
// cannot share a proxy.Health).

// udpState is the agent's UDP data plane; touched only by the run goroutine.
type udpState struct {
	listeners map[listenerKey]*udpRunning
	health    map[udpHealthKey]*proxy.Health
}

type udpRunning struct {
	spec listenerSpec
	hk   udpHealthKey
	l    *proxy.UDPListener
	done chan struct{}
}

// udpHealthKey is one UDP health checker: a provider VPC and a probe.
type udpHealthKey struct{ vpc, req, exp string }

// applyUDP starts, updates and stops UDP listeners to match want; errors
// are recorded per endpoint in errs.
func (a *Agent) applyUDP(want map[listenerKey]listenerSpec, errs map[string]error) {
	u := &a.udp
	if u.listeners == nil {
		u.listeners, u.health = map[listenerKey]*udpRunning{}, map[udpHealthKey]*proxy.Health{}
	}
	st := a.cfg.Cache.State()
	for k, r := range u.listeners {
		if sp, ok := want[k]; !ok || sp.addr != r.spec.addr {
			a.stopUDPListener(k, r)
		} else if sp.version != r.spec.version {
			r.l.Update(a.udpConfig(sp))
			r.spec = sp
		}
	}
	for k, sp := range want {
		if _, ok := u.listeners[k]; ok {
			continue
		}
		if err := a.startUDPListener(k, sp, udpHealthKeyOf(st, sp)); err != nil {
			a.log.Error("start udp listener", "endpointId", k.EndpointID, "addr", sp.addr, "err", err)
			errs[k.EndpointID] = err
		}
	}
	// Health: one checker per (provider VPC, probe), tracking its backends.
	per := map[udpHealthKey][]netip.AddrPort{}
	for _, r := range u.listeners {
		for _, b := range r.spec.cfg.Backends {
			per[r.hk] = append(per[r.hk], b.Addr)
		}
	}
	for hk, h := range u.health {
		if _, ok := per[hk]; !ok {
			h.Close()
			delete(u.health, hk)
		}
	}
	for hk, addrs := range per {
		a.udpHealth(hk).Track(addrs)
	}
}

func udpHealthKeyOf(st *store.State, sp listenerSpec) udpHealthKey {
	hk := udpHealthKey{vpc: sp.svcVPC}
	if svc := st.Services[sp.cfg.ServiceID]; svc != nil {
		hk.req, hk.exp = svc.UDPHealthCheckReq, svc.UDPHealthCheckExp
	}
	return hk
}

func (a *Agent) udpHealth(hk udpHealthKey) *proxy.Health {
	h := a.udp.health[hk]
	if h == nil {
		var req, exp []byte
		if hk.exp != "" {
			req, exp = []byte(hk.req), []byte(hk.exp)
		}
		h = proxy.NewHealth(proxy.UDPProbe(a.udpDialer(hk.vpc), req, exp), 2*time.Second, time.Second, a.log)
		a.udp.health[hk] = h
	}
	return h
}

// udpConfig is proxyConfig with the security group's UDP rules.
func (a *Agent) udpConfig(sp listenerSpec) proxy.Config {
	cfg := a.proxyConfig(sp)
	rules, um, vpc := sp.rules, a.cfg.Driver.Sockets, sp.eni.VpcID
	cfg.Allow = func(src netip.AddrPort, port uint16) bool {
		return rules.AllowsUDP(um.UnmapAddr(vpc, src.Addr()), port)
	}
	return cfg
}

// udpDialer opens UDP sockets in the provider VPC connected to a backend.
func (a *Agent) udpDialer(vpc string) proxy.UDPDialFunc {
	drv := a.cfg.Driver.Sockets
	return func(addr netip.AddrPort) (*net.UDPConn, error) {
		to := netip.AddrPortFrom(drv.MapAddr(vpc, addr.Addr()).Unmap(), addr.Port())
		any := netip.IPv4Unspecified()
		if to.Addr().Is6() {
			any = netip.IPv6Unspecified()
		}
		pc, err := drv.ListenPacket(vpc, netip.AddrPortFrom(any, 0))
		if err != nil {
			return nil, err
		}
		c, ok := pc.(*net.UDPConn)
		if !ok {
			pc.Close()
			return nil, errors.New("udp backend socket is not a *net.UDPConn")
		}
		if err := connectUDP(c, to); err != nil {
			c.Close()
			return nil, fmt.Errorf("connect udp %s: %w", to, err)
		}
		return c, nil
	}
}

// connectUDP connects c's socket to to, so that it receives only to's
// datagrams and ICMP errors surface as ECONNREFUSED.
func connectUDP(c *net.UDPConn, to netip.AddrPort) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()} // IPv6 backends (dualstack.go)
	if a := to.Addr().Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: a.As4()}
	}
	var cerr error
	err = rc.Control(func(fd uintptr) { cerr = unix.Connect(int(fd), sa) })
	return errors.Join(err, cerr)
}

func (a *Agent) startUDPListener(k listenerKey, sp listenerSpec, hk udpHealthKey) error {
	pc, err := a.cfg.Driver.Sockets.ListenPacket(sp.eni.VpcID, sp.addr)
	if err != nil {
		return fmt.Errorf("listen udp on %s in %s: %w", sp.addr, sp.eni.VpcID, err)
	}
	c, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return fmt.Errorf("listen udp on %s: not a *net.UDPConn", sp.addr)
	}
	l := proxy.NewUDPListener(c, a.udpConfig(sp), a.udpDialer(sp.svcVPC), a.udpHealth(hk), a.cfg.Metrics, proxy.WithBudget(a.cfg.Budget))
	r := &udpRunning{spec: sp, hk: hk, l: l, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := l.Serve(); err != nil {
			a.log.Warn("udp listener stopped", "addr", sp.addr, "err", err)
		}
	}()
	a.udp.listeners[k] = r
	a.keep([]handoff.Socket{{Key: socketKey("udp", sp), FD: l.FD()}})
	a.log.Info("udp listener up", "endpointId", k.EndpointID, "addr", sp.addr, "vpcId", sp.eni.VpcID)
	return nil
}

func (a *Agent) stopUDPListener(k listenerKey, r *udpRunning) {
	if err := r.l.Close(); err != nil {
		a.log.Warn("close udp listener", "addr", r.spec.addr, "err", err)
	}
	<-r.done
	delete(a.udp.listeners, k)
	a.drop("udp", r.spec)
	a.log.Info("udp listener down", "endpointId", k.EndpointID, "addr", r.spec.addr)
}

// stopUDP stops every UDP listener and health checker (agent shutdown).
func (a *Agent) stopUDP() {
	for k, r := range a.udp.listeners {
		a.stopUDPListener(k, r)
	}
	for hk, h := range a.udp.health {
		h.Close()
		delete(a.udp.health, hk)
	}
}
