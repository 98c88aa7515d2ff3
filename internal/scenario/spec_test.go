package scenario

import (
	"slices"
	"testing"
)

// subnetCases: the i-th /24 of a CIDR, or "" for an error.
var subnetCases = []struct {
	cidr string
	i    int
	want string
}{
	{"192.168.0.0/16", 1, "192.168.1.0/24"},
	{"10.1.0.0/16", 3, "10.1.3.0/24"},
	{"10.1.7.9/16", 10, "10.1.10.0/24"}, // host bits ignored
	{"10.0.0.0/8", 258, "10.1.2.0/24"},
	{"10.1.2.0/24", 0, "10.1.2.0/24"},
	{"10.1.2.0/24", 1, ""},
	{"10.1.0.0/16", 256, ""},
	{"10.1.0.0/16", -1, ""},
	{"10.1.2.0/25", 0, ""},
	{"fd00::/48", 1, ""},
	{"nonsense", 1, ""},
}

func TestSubnet(t *testing.T) {
	for _, tc := range subnetCases {
		got, err := Subnet(tc.cidr, tc.i)
		if tc.want == "" && err == nil {
			t.Errorf("Subnet(%q, %d) = %q, want an error", tc.cidr, tc.i, got)
		}
		if tc.want != "" && (err != nil || got != tc.want) {
			t.Errorf("Subnet(%q, %d) = %q, %v; want %q", tc.cidr, tc.i, got, err, tc.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	zones := []string{"z-a", "z-b"}
	for _, tc := range []struct {
		name         string
		o            Options
		consumerCIDR string
		rules        int
		endpoint     bool
	}{
		{"defaults overlap", Options{Zones: zones}, "192.168.0.0/16", 1, true},
		{"own consumer CIDR", Options{Zones: zones, CIDR: "10.2.0.0/16", ConsumerCIDR: "10.1.0.0/16"}, "10.1.0.0/16", 1, true},
		{"no rule, no endpoint", Options{Zones: zones, NoSGRule: true, NoEndpoint: true}, "192.168.0.0/16", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Canonical(tc.o)
			if p.Consumer.CIDR != tc.consumerCIDR || len(p.Consumer.SecurityGroup.Rules) != tc.rules || (p.Endpoint != nil) != tc.endpoint {
				t.Errorf("consumer %s, %d rules, endpoint %v", p.Consumer.CIDR, len(p.Consumer.SecurityGroup.Rules), p.Endpoint != nil)
			}
			if tc.rules > 0 && p.Consumer.SecurityGroup.Rules[0].SourceCidr != tc.consumerCIDR {
				t.Errorf("rule %+v does not admit the consumer's CIDR", p.Consumer.SecurityGroup.Rules[0])
			}
			wantHosts := []HostSpec{{Name: "db-z-a", VSwitch: 0}, {Name: "db-z-b", VSwitch: 1}}
			if !slices.Equal(p.Provider.Hosts, wantHosts) || !slices.Equal(p.Consumer.VSwitches, PerZone(zones, 1)) {
				t.Errorf("provider hosts %v, consumer vSwitches %v", p.Provider.Hosts, p.Consumer.VSwitches)
			}
			if p.Service.Ports[0] != 6001 || p.Service.BackendPort != 6001 {
				t.Errorf("service %+v", p.Service)
			}
		})
	}
}
