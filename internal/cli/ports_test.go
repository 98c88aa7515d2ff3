package cli

import (
	"reflect"
	"testing"
)

func TestParseServicePorts(t *testing.T) {
	for _, tc := range []struct {
		in       []string
		tcp, udp []int
		bad      bool
	}{
		{in: []string{"80"}, tcp: []int{80}},
		{in: []string{"53/udp", "53/tcp", "5353/UDP"}, tcp: []int{53}, udp: []int{53, 5353}},
		{in: []string{"53/sctp"}, bad: true},
		{in: []string{"x/udp"}, bad: true},
	} {
		tcp, udp, err := parseServicePorts(tc.in)
		if (err != nil) != tc.bad || !tc.bad && (!reflect.DeepEqual(tcp, tc.tcp) || !reflect.DeepEqual(udp, tc.udp)) {
			t.Errorf("%v: tcp %v udp %v err %v", tc.in, tcp, udp, err)
		}
	}
}
