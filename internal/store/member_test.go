package store

import (
	"net/url"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"
)

// TestMemberApply: the cluster flags map onto embed.Config, and every
// inconsistency is refused with the flag to fix.
func TestMemberApply(t *testing.T) {
	peer := url.URL{Scheme: "https", Host: "10.0.0.1:2380"}
	client := url.URL{Scheme: "https", Host: "10.0.0.1:2379"}
	for _, tc := range []struct {
		name    string
		m       Member
		check   func(*embed.Config) bool
		wantErr string
	}{
		{"single member", Member{}, func(ec *embed.Config) bool {
			return ec.Name == DefaultMemberName && ec.InitialCluster == "privlink=https://10.0.0.1:2380" && ec.ClusterState == "new"
		}, ""},
		{"three members", Member{Name: "m1", InitialCluster: "m1=https://10.0.0.1:2380, m2=http://10.0.0.2:2380,m3=https://10.0.0.3:2380", Token: "tk"}, func(ec *embed.Config) bool {
			return ec.InitialCluster == "m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380,m3=https://10.0.0.3:2380" && ec.InitialClusterToken == "tk"
		}, ""},
		{"join an existing cluster", Member{Name: "m4", InitialCluster: "m1=https://10.0.0.9:2380,m4=https://10.0.0.1:2380", ClusterState: "existing"}, func(ec *embed.Config) bool {
			return ec.ClusterState == "existing"
		}, ""},
		{"advertise", Member{Name: "m1", AdvertisePeerURL: "https://192.0.2.1:2380", AdvertiseClientURL: "https://192.0.2.1:2379", InitialCluster: "m1=https://192.0.2.1:2380"}, func(ec *embed.Config) bool {
			return ec.AdvertisePeerUrls[0].Host == "192.0.2.1:2380" && ec.AdvertiseClientUrls[0].Host == "192.0.2.1:2379" && ec.ListenPeerUrls[0] == peer
		}, ""},
		{"not named", Member{Name: "m9", InitialCluster: "m1=https://10.0.0.1:2380"}, nil, "does not name this member"},
		{"named elsewhere", Member{Name: "m1", InitialCluster: "m1=https://10.0.0.7:2380"}, nil, "but it advertises 10.0.0.1:2380"},
		{"malformed", Member{Name: "m1", InitialCluster: "m1"}, nil, "want name=https://host:port"},
		{"no port", Member{Name: "m1", InitialCluster: "m1=https://10.0.0.1"}, nil, "member m1"},
		{"bad state", Member{ClusterState: "old"}, nil, "give new or existing"},
		{"bad advertise", Member{AdvertiseClientURL: "10.0.0.1"}, nil, "--etcd-advertise-client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ec := embed.NewConfig()
			ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
			ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
			err := tc.m.apply(ec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(ec) {
				t.Fatalf("apply: %v; name %s cluster %s state %s", err, ec.Name, ec.InitialCluster, ec.ClusterState)
			}
		})
	}
}
