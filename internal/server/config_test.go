package server

import (
	"slices"
	"strings"
	"testing"
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
		{"negative data-plane limit", Config{DataDir: "/d", EndpointMaxConns: -1}, nil, "must not be negative"},
		{"endpoint share above 1", Config{DataDir: "/d", EndpointFDShare: 1.5}, nil, "--endpoint-fd-share"},
		{"agent needs a zone", Config{AgentOnly: true, EtcdEndpoints: []string{"http://e"}}, nil, "its zone"},
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
