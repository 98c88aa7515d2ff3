package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Backend is one provider backend.
type Backend struct {
	ZoneID string
	Addr   netip.AddrPort
}

// Config is the desired state for one listener (one endpoint zone x one
// service port). Immutable once passed in.
type Config struct {
	EndpointID, ServiceID, VpcID, ZoneID string
	Backends                             []Backend
	ZoneAffinity                         bool                                          // prefer healthy backends in ZoneID; fall over to other zones when none healthy there
	ProxyProtocol                        bool                                          // send PROXY v2 header
	ProxyTLVs                            TLVSet                                        // the Alibaba TLVs in that header
	BandwidthMbps                        int                                           // per-endpoint cap each direction, shared by its connections; 0 = unlimited
	MaxConns                             int                                           // per-endpoint concurrent connections; 0 = the Budget's endpoint cap only
	NewConnsPerSec                       int                                           // per-endpoint new connections per second (burst: one second's worth); 0 = unlimited
	IdleTimeout                          time.Duration                                 // 0 = DefaultIdleTimeout; close a connection idle in both directions that long
	Allow                                func(src netip.AddrPort, dstPort uint16) bool // security-group check on accept; nil = allow all
	Logger                               *slog.Logger                                  // nil = slog.Default(); read once by NewListener
}

// DialFunc dials a backend in the provider's network (it may switch network
// namespaces). It must honour ctx cancellation and deadline.
type DialFunc func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)

// Dial is a DialFunc for backends reachable from the current network
// namespace, with the proxy's keepalive settings.
//
// It deliberately avoids (*net.Dialer).DialTCP: that binds the zero local
// address explicitly (bind to port 0 before connect), which makes the kernel
// pick the ephemeral port without the 4-tuple check and exhausts ports under
// load ("bind: address already in use").
func Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	return backendDialer.DialContext(ctx, "tcp", addr.String())
}

var backendDialer = net.Dialer{KeepAliveConfig: keepAlive}

const (
	// DefaultIdleTimeout applies when Config.IdleTimeout is 0.
	DefaultIdleTimeout = 900 * time.Second
	// DialTimeout bounds one backend dial attempt.
	DialTimeout = 3 * time.Second
	// MaxDialAttempts bounds the backends tried for one consumer connection.
	MaxDialAttempts = 3
)

// state is a Config compiled for the hot path. It is immutable and shared by
// every connection accepted while it was current.
type state struct {
	cfg Config
	// primary holds the preferred backends (those in cfg.ZoneID with zone
	// affinity, all backends otherwise); secondary the fall-over backends
	// (other zones, affinity only).
	primary, secondary []netip.AddrPort
	idle               time.Duration
	ep                 *endpoint // shared with the endpoint's other Listeners
	capped             bool      // BandwidthMbps > 0
	tlvs               []byte    // encoded PROXY v2 TLVs; valid if cfg.ProxyProtocol
	met                *listenerMetrics
	udp                *udpMetrics // UDPListener only
}

// compile builds the hot-path state for cfg. prev (may be nil) is the state
// being replaced; its metric children and endpoint share are reused when the
// labels match (otherwise the caller releases prev.ep).
func compile(cfg Config, m *Metrics, prev *state, b *Budget, log *slog.Logger) *state {
	st := &state{cfg: cfg, idle: cfg.IdleTimeout, capped: cfg.BandwidthMbps > 0}
	if st.idle <= 0 {
		st.idle = DefaultIdleTimeout
	}
	for _, b := range cfg.Backends {
		if cfg.ZoneAffinity && b.ZoneID != cfg.ZoneID {
			st.secondary = append(st.secondary, b.Addr)
		} else {
			st.primary = append(st.primary, b.Addr)
		}
	}
	if cfg.ProxyProtocol {
		tlvs, err := encodeTLVs(cfg.ProxyTLVs.pick(cfg.VpcID, cfg.EndpointID, cfg.ServiceID))
		if err != nil {
			// Only absurdly long IDs get here; the header is still useful.
			log.Error("PROXY v2 TLVs dropped", "err", err)
		}
		st.tlvs = tlvs
	}
	if prev != nil && prev.cfg.EndpointID == cfg.EndpointID && prev.cfg.ZoneID == cfg.ZoneID {
		st.met = prev.met
	} else {
		st.met = m.forListener(cfg.EndpointID, cfg.ZoneID)
	}
	if prev != nil && prev.cfg.EndpointID == cfg.EndpointID {
		st.ep = prev.ep
	} else {
		st.ep = b.endpoint(cfg.EndpointID)
	}
	st.ep.configure(cfg)
	return st
}

// allow runs the security-group check.
func (st *state) allow(src netip.AddrPort, dstPort uint16) bool {
	return st.cfg.Allow == nil || st.cfg.Allow(src, dstPort)
}
