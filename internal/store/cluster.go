package store

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.etcd.io/etcd/server/v3/embed"
)

// DefaultMemberName is the embedded etcd's member name when it runs alone.
const DefaultMemberName = "privlink"

// Member makes the embedded etcd one member of a cluster of several
// machines (docs/design/multinode.md §6.1). The zero Member is today's
// single member named DefaultMemberName.
type Member struct {
	// Name of this member (embed.Config.Name), unique in the cluster.
	Name string
	// InitialCluster lists every member at bootstrap,
	// "m1=https://10.0.0.1:2380,m2=…"; empty: this member alone. Ignored by
	// etcd once the data dir holds a cluster.
	InitialCluster string
	// ClusterState is "new" (bootstrap, the default) or "existing" (join a
	// running cluster after `etcdctl member add`).
	ClusterState string
	// Token keeps clusters bootstrapped from the same URLs apart (etcd's
	// --initial-cluster-token); empty: etcd's default.
	Token string
	// AdvertiseClientURL and AdvertisePeerURL are what the other members
	// and the clients dial (empty: the listen URLs); needed when listening
	// on a wildcard address.
	AdvertiseClientURL, AdvertisePeerURL string
}

// apply sets the member's fields on ec, whose listen URLs are set.
func (m Member) apply(ec *embed.Config) error {
	ec.Name = m.Name
	if ec.Name == "" {
		ec.Name = DefaultMemberName
	}
	for _, a := range []struct {
		flag, raw string
		to        *[]url.URL
	}{{"--etcd-advertise-client", m.AdvertiseClientURL, &ec.AdvertiseClientUrls}, {"--etcd-advertise-peer", m.AdvertisePeerURL, &ec.AdvertisePeerUrls}} {
		if a.raw == "" {
			continue
		}
		u, err := httpsURL(a.raw)
		if err != nil {
			return fmt.Errorf("%s: %w", a.flag, err)
		}
		*a.to = []url.URL{*u}
	}
	switch m.ClusterState {
	case "", embed.ClusterStateFlagNew:
		ec.ClusterState = embed.ClusterStateFlagNew
	case embed.ClusterStateFlagExisting:
		ec.ClusterState = embed.ClusterStateFlagExisting
	default:
		return fmt.Errorf("--etcd-initial-cluster-state %q: give new or existing", m.ClusterState)
	}
	if m.Token != "" {
		ec.InitialClusterToken = m.Token
	}
	if m.InitialCluster == "" {
		ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
		return nil
	}
	var parts []string
	self := false
	for _, p := range strings.Split(m.InitialCluster, ",") {
		name, raw, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || name == "" || raw == "" {
			return fmt.Errorf("--etcd-initial-cluster %q: want name=https://host:port,…", m.InitialCluster)
		}
		u, err := httpsURL(raw)
		if err != nil {
			return fmt.Errorf("--etcd-initial-cluster member %s: %w", name, err)
		}
		if name == ec.Name {
			self = true
			if u.Host != ec.AdvertisePeerUrls[0].Host {
				return fmt.Errorf("--etcd-initial-cluster names this member %s at %s, but it advertises %s (--etcd-listen-peer / --etcd-advertise-peer)",
					name, u.Host, ec.AdvertisePeerUrls[0].Host)
			}
		}
		parts = append(parts, name+"="+u.String())
	}
	if !self {
		return fmt.Errorf("--etcd-initial-cluster %q does not name this member %q (--etcd-name)", m.InitialCluster, ec.Name)
	}
	ec.InitialCluster = strings.Join(parts, ",")
	return nil
}

// httpsURL parses an etcd URL and forces https: privlink's etcd never
// speaks plain (see secureEmbedded).
func httpsURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Host == "" || u.Port() == "" {
		return nil, errors.New("want https://host:port in " + raw)
	}
	u.Scheme = "https"
	return u, nil
}
