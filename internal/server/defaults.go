package server

import (
	"os"

	"github.com/privlink/privlink/internal/netdrv"
)

// The defaults of every privlink process, in one place: Config.defaults
// applies them, the CLI's flags show them, the demo and the tests start
// from them.
const (
	DefaultListen        = "127.0.0.1:8080" // API and console (tenants)
	DefaultRegion        = "cn-hangzhou"
	DefaultNetnsPrefix   = "pl"                     // namespaces are "<prefix>-<id>"
	DefaultServicePrefix = "com.privlink"           // service names <prefix>.<region>.<serviceId>
	DefaultDNSSuffix     = "privatelink.internal"   // DNS zone <region>.<suffix>
	DefaultEtcdClientURL = "https://127.0.0.1:2379" // embedded etcd (always TLS, client certificates)
	DefaultEtcdPeerURL   = "https://127.0.0.1:2380"
	// DefaultEtcdPasswordEnv is read when --etcd-password is not given
	// (a password on the command line shows in ps).
	DefaultEtcdPasswordEnv = "PRIVLINK_ETCD_PASSWORD"
)

// SuggestedMetricsListen is the management listener's address in the docs
// (Prometheus exporters' 9464). No process opens one unless told
// (--metrics-listen): two servers or agents on a machine, or tests running
// side by side, would fight over a fixed port.
const SuggestedMetricsListen = "127.0.0.1:9464"

// ZonesOf returns the default zones of a region: <region>-h and <region>-i.
func ZonesOf(region string) []string { return []string{region + "-h", region + "-i"} }

// DefaultZones are the zones of DefaultRegion.
func DefaultZones() []string { return ZonesOf(DefaultRegion) }

// DefaultNetwork is the data-plane driver: netns as root, else loopback.
func DefaultNetwork() string {
	if os.Geteuid() != 0 {
		return netdrv.Loopback
	}
	return netdrv.Netns
}
