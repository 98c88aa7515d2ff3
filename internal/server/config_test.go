package server

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/store"
)

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		check   func(Config) bool
		wantErr string
	}{
		{"server", Config{DataDir: "/d"}, func(c Config) bool {
			return c.Listen == DefaultListen && c.Region == DefaultRegion && slices.Equal(c.Zones, DefaultZones()) &&
				slices.Equal(c.AgentZones, c.Zones) && c.NetnsPrefix == DefaultNetnsPrefix && c.Network == DefaultNetwork() &&
				c.ServicePrefix == DefaultServicePrefix && c.DNSSuffix == DefaultDNSSuffix && c.EtcdClientURL == DefaultEtcdClientURL
		}, ""},
		{"zones follow the region", Config{DataDir: "/d", Region: "eu-x"}, func(c Config) bool {
			return slices.Equal(c.Zones, []string{"eu-x-h", "eu-x-i"})
		}, ""},
		{"no agents", Config{DataDir: "/d", AgentZones: []string{}}, func(c Config) bool { return len(c.AgentZones) == 0 }, ""},
		{"server needs a store", Config{}, nil, "--data-dir is required"},
		{"unknown agent zone", Config{DataDir: "/d", AgentZones: []string{"x"}}, nil, `agent zone "x"`},
		{"agent", Config{AgentOnly: true, AgentZones: []string{"z-a"}, EtcdEndpoints: []string{"http://e"}}, func(c Config) bool {
			return c.Listen == "" && slices.Equal(c.Zones, []string{"z-a"}) && c.Region == DefaultRegion
		}, ""},
		{"agent needs etcd", Config{AgentOnly: true, AgentZones: []string{"z-a"}, DataDir: "/d"}, nil, "--etcd-endpoints"},
		{"etcd credentials go with external etcd", Config{DataDir: "/d", EtcdCert: "c.crt", EtcdKey: "c.key"}, nil, "go with --etcd-endpoints"},
		{"external etcd with credentials", Config{EtcdEndpoints: []string{"https://e"}, EtcdCACert: "ca", EtcdUser: "u"}, func(c Config) bool {
			return c.etcdCredentials().CACert == "ca" && c.etcdCredentials().Username == "u"
		}, ""},
		{"non-loopback listen without TLS", Config{DataDir: "/d", Listen: "0.0.0.0:8080"}, nil, "not a loopback address and the API has no TLS"},
		{"all interfaces without TLS", Config{DataDir: "/d", Listen: ":8080"}, nil, "--insecure-http"},
		{"a host name is not loopback", Config{DataDir: "/d", Listen: "api.example:8080"}, nil, "--tls-self-signed"},
		{"non-loopback with --insecure-http", Config{DataDir: "/d", Listen: "0.0.0.0:8080", InsecureHTTP: true}, func(c Config) bool { return true }, ""},
		{"non-loopback with TLS", Config{DataDir: "/d", Listen: "0.0.0.0:8080", TLSCert: "c", TLSKey: "k"}, func(c Config) bool { return true }, ""},
		{"non-loopback self-signed", Config{DataDir: "/d", Listen: "10.0.0.1:8080", TLSSelfSigned: true}, func(c Config) bool { return true }, ""},
		{"localhost and ::1 are loopback", Config{DataDir: "/d", Listen: "localhost:8080"}, func(c Config) bool { return true }, ""},
		{"::1 is loopback", Config{DataDir: "/d", Listen: "[::1]:8080"}, func(c Config) bool { return true }, ""},
		{"cert without key", Config{DataDir: "/d", TLSCert: "c"}, nil, "go together"},
		{"self-signed and a cert", Config{DataDir: "/d", TLSCert: "c", TLSKey: "k", TLSSelfSigned: true}, nil, "not both"},
		{"self-signed needs a data dir", Config{EtcdEndpoints: []string{"https://e"}, TLSSelfSigned: true}, nil, "give --data-dir"},
		{"TLS and --insecure-http", Config{DataDir: "/d", TLSSelfSigned: true, InsecureHTTP: true}, nil, "contradicts"},
		{"pprof needs the management listener", Config{DataDir: "/d", Pprof: true}, nil, "give --metrics-listen"},
		{"agent serves no API", Config{AgentOnly: true, AgentZones: []string{"z-a"}, EtcdEndpoints: []string{"http://e"}, Listen: "127.0.0.1:1"}, nil, "serves no API"},
		{"etcd quota", Config{DataDir: "/d", EtcdQuotaBytes: 1 << 30}, func(c Config) bool { return c.EtcdQuotaBytes == 1<<30 }, ""},
		{"etcd quota negative", Config{DataDir: "/d", EtcdQuotaBytes: -1}, nil, "--etcd-quota-bytes -1"},
		{"etcd quota above 8 GiB", Config{DataDir: "/d", EtcdQuotaBytes: 9 << 30}, nil, "8 GiB"},
		{"etcd quota is the embedded one's", Config{EtcdEndpoints: []string{"https://e"}, EtcdQuotaBytes: 1 << 30}, nil, "--quota-backend-bytes"},
		{"negative data-plane limit", Config{DataDir: "/d", EndpointMaxConns: -1}, nil, "must not be negative"},
		{"endpoint share above 1", Config{DataDir: "/d", EndpointFDShare: 1.5}, nil, "--endpoint-fd-share"},
		{"cluster member token", Config{DataDir: "/d", Region: "eu-x", EtcdMember: store.Member{Name: "m1", InitialCluster: "m1=https://10.0.0.1:2380"}}, func(c Config) bool {
			return c.EtcdMember.Token == "privlink-eu-x"
		}, ""},
		{"single member keeps etcd's token", Config{DataDir: "/d"}, func(c Config) bool { return c.EtcdMember.Token == "" }, ""},
		{"no node by default", Config{DataDir: "/d"}, func(c Config) bool { return c.Node == "" }, ""},
		{"node of one zone", Config{DataDir: "/d", Node: "n1", AgentZones: []string{DefaultZones()[0]}, UnderlayAddr: "10.0.0.1"}, func(c Config) bool {
			a, err := c.underlay()
			return c.Node == "n1" && err == nil && a.String() == "10.0.0.1"
		}, ""},
		{"node name defaults to the hostname", Config{DataDir: "/d", AgentZones: []string{DefaultZones()[0]}, UnderlayAddr: "10.0.0.1"}, func(c Config) bool {
			h, _ := os.Hostname()
			return c.Node == h
		}, ""},
		{"node without underlay", Config{DataDir: "/d", Node: "n1", AgentZones: []string{DefaultZones()[0]}}, func(c Config) bool { return c.UnderlayAddr == "" }, ""},
		{"node needs one zone", Config{DataDir: "/d", Node: "n1"}, nil, "serves one zone"},
		{"bad node name", Config{DataDir: "/d", Node: "n/1", AgentZones: []string{DefaultZones()[0]}}, nil, `--node "n/1"`},
		{"underlay not IPv4", Config{DataDir: "/d", Node: "n1", AgentZones: []string{DefaultZones()[0]}, UnderlayAddr: "fd00::1"}, nil, "--underlay-addr"},
		{"underlay loopback", Config{DataDir: "/d", Node: "n1", AgentZones: []string{DefaultZones()[0]}, UnderlayAddr: "127.0.0.1"}, nil, "--underlay-addr"},
		{"underlay MTU too small", Config{DataDir: "/d", Node: "n1", AgentZones: []string{DefaultZones()[0]}, UnderlayMTU: 1000}, nil, "--underlay-mtu 1000"},
		{"node flags without a node", Config{DataDir: "/d", UnderlayMTU: 1550}, nil, "go with --node"},
		{"node lease under a second", Config{DataDir: "/d", Node: "n1", AgentZones: []string{DefaultZones()[0]}, NodeLeaseTTL: 100 * time.Millisecond}, nil, "--node-lease-ttl"},
		{"member flags' defaults with external etcd", Config{EtcdEndpoints: []string{"https://e"}, EtcdMember: store.Member{Name: store.DefaultMemberName, ClusterState: "new"}},
			func(c Config) bool { return true }, ""},
		{"cluster member and external etcd", Config{EtcdEndpoints: []string{"https://e"}, EtcdMember: store.Member{Name: "m2"}}, nil, "external cluster instead"},
		{"agent needs a zone", Config{AgentOnly: true, EtcdEndpoints: []string{"http://e"}}, nil, "its zone"},
		{"handoff socket of an agent", Config{AgentOnly: true, AgentZones: []string{DefaultZones()[0]}, EtcdEndpoints: []string{"http://e"}, HandoffSocket: "/run/a.sock"},
			func(c Config) bool { return c.HandoffSocket == "/run/a.sock" }, ""},
		{"handoff socket of a server", Config{DataDir: "/d", HandoffSocket: "/run/a.sock"}, nil, "--handoff-socket is for a standalone agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			err := cfg.defaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(cfg) {
				t.Fatalf("defaults() = %+v, %v", cfg, err)
			}
		})
	}
}
