package store

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/privlink/privlink/internal/model"
)

// Key kinds: the first path element after the prefix. The full layout
// (every key privlink writes) is in docs/architecture.md; each kind has
// one helper below, and no other package builds keys.
const (
	KindAccount  = "account"  // account/<accountId> -> model.Account
	KindToken    = "token"    // token/<sha256 hex> -> TokenRecord
	KindVPC      = "vpc"      // vpc/<vpcId> -> model.VPC
	KindVSwitch  = "vsw"      // vsw/<vSwitchId> -> model.VSwitch
	KindSG       = "sg"       // sg/<securityGroupId> -> model.SecurityGroup
	KindHost     = "host"     // host/<hostId> -> model.Host
	KindService  = "svc"      // svc/<serviceId> -> model.EndpointService
	KindEndpoint = "ep"       // ep/<endpointId> -> model.Endpoint
	KindLB       = "nlb"      // nlb/<loadBalancerId> -> model.LoadBalancer
	KindIPAM     = "ipam"     // ipam/<vSwitchId>/<ip> -> owner ID (the key's existence is the allocation)
	KindSvcEp    = "svcep"    // svcep/<serviceId>/<endpointId> -> "" (index: a service's endpoints)
	KindVPCEp    = "vpcep"    // vpcep/<vpcId>/<endpointId> -> "" (index: a VPC's endpoints, for the quota)
	KindNotif    = "notif"    // notif/<notificationId> -> model.Notification
	KindQuotaHit = "quotahit" // quotahit/<accountId>/<code> -> model.QuotaHit, under a 60 s lease
	KindEvent    = "event"    // event/<eventId> -> model.Event (eventId: zero-padded revision + index, sorts by time); meta/events-cursor: the last revision turned into events
	KindIdem     = "idem"     // idem/<accountId>/<kind>/<clientToken> -> idemRecord
	KindIdemRev  = "idemrev"  // idemrev/<kind>/<id> -> the idem key that created the resource
	KindReport   = "report"   // report/<zoneId>/<endpointId> -> model.ZoneReport (leased)
	KindAgent    = "agent"    // agent/<zoneId> -> model.AgentInfo (leased)
	KindTraffic  = "traffic"  // traffic/<zoneId>/<endpointId> -> model.TrafficReport (leased; read on request, not cached)
	KindMeta     = "meta"     // meta/admin -> the admin's account ID
	KindQuota    = "quota"    // quota/<accountId> -> model.Quota (absent: the defaults)
	KindOwned    = "own"      // own/<accountId>/<kind>/<id> -> "" (index: an account's resources, for its quotas)

	// Nodes (docs/design/multinode.md §2).
	KindNodeReg  = "nodereg"  // nodereg/<node> -> model.NodeReg (permanent)
	KindNodeIdx  = "nodeidx"  // nodeidx/<index> -> node name (the key's existence is the allocation)
	KindNode     = "node"     // node/<node> -> model.NodeStatus (leased: its presence is Ready)
	KindVNI      = "vni"      // vni/<vni> -> vpc ID (the key's existence is the allocation); meta/vninext: next VNI to try
	KindHostNode = "hostnode" // hostnode/<node>/<hostId> -> "" (index: a node's hosts, its load); meta/defaultnode: the node of hosts without nodeName
	KindENIPlace = "eniplace" // eniplace/<endpointId>/<zoneId> -> model.ENIPlacement (mod revision = placement epoch)
	KindIPv6CIDR = "ip6cidr"  // ip6cidr/<address of a VPC's /56>/<vpcId> -> "" (index: whose /56 it is; an auto-chosen one is unique)
	KindElection = "election" // election/<name>/<lease> -> campaigner ID (etcd concurrency.Election: the placement controller's leader)
)

// key builds prefix + kind + "/" + parts joined by "/".
func (s *Store) key(kind string, parts ...string) string {
	return s.prefix + kind + "/" + strings.Join(parts, "/")
}

// KindPrefix is the prefix of every key of a kind (for listing).
func (s *Store) KindPrefix(kind string) string { return s.prefix + kind + "/" }

// ResourceKey is the key of one record of a kind: account, token, vpc,
// vsw, sg, host, svc, ep or nlb.
func (s *Store) ResourceKey(kind, id string) string { return s.key(kind, id) }

// IPAMKey is the allocation key of one address of a vSwitch.
func (s *Store) IPAMKey(vswID string, ip netip.Addr) string {
	return s.key(KindIPAM, vswID, ip.String())
}

// IPAMPrefix is the prefix of every allocation of a vSwitch.
func (s *Store) IPAMPrefix(vswID string) string { return s.key(KindIPAM, vswID) + "/" }

// ServiceEndpointKey indexes an endpoint under its service; its existence
// blocks the service's deletion.
func (s *Store) ServiceEndpointKey(svcID, epID string) string { return s.key(KindSvcEp, svcID, epID) }

// ServiceEndpointsPrefix is the prefix of a service's endpoint index.
func (s *Store) ServiceEndpointsPrefix(svcID string) string { return s.key(KindSvcEp, svcID) + "/" }

// VPCEndpointKey indexes an endpoint under its VPC (the endpoint quota).
func (s *Store) VPCEndpointKey(vpcID, epID string) string { return s.key(KindVPCEp, vpcID, epID) }

// VPCEndpointsPrefix is the prefix of a VPC's endpoint index.
func (s *Store) VPCEndpointsPrefix(vpcID string) string { return s.key(KindVPCEp, vpcID) + "/" }

// QuotaKey holds an account's quota (absent: model.DefaultQuota).
func (s *Store) QuotaKey(accountID string) string { return s.key(KindQuota, accountID) }

// OwnedKey indexes a resource of kind under its account: the per-account
// quotas are a count of these keys.
func (s *Store) OwnedKey(accountID, kind, id string) string {
	return s.key(KindOwned, accountID, kind, id)
}

// OwnedPrefix is the prefix of an account's index of one kind.
func (s *Store) OwnedPrefix(accountID, kind string) string {
	return s.key(KindOwned, accountID, kind) + "/"
}

// idemKey records which resource a clientToken created.
func (s *Store) idemKey(account, kind, token string) string {
	return s.key(KindIdem, account, kind, token)
}

// idemRevKey points from a resource back to its idem key, so deleting the
// resource frees its clientToken.
func (s *Store) idemRevKey(kind, id string) string { return s.key(KindIdemRev, kind, id) }

// ReportKey is a zone agent's report on one endpoint zone.
func (s *Store) ReportKey(zoneID, epID string) string { return s.key(KindReport, zoneID, epID) }

// TrafficKey is a zone agent's traffic report on one endpoint zone.
func (s *Store) TrafficKey(zoneID, epID string) string { return s.key(KindTraffic, zoneID, epID) }

// AgentKey is a zone agent's liveness record.
func (s *Store) AgentKey(zoneID string) string { return s.key(KindAgent, zoneID) }

// AdminMetaKey holds the admin's account ID once the admin exists.
func (s *Store) AdminMetaKey() string { return s.key(KindMeta, "admin") }

// EventKey is the key of one event.
func (s *Store) EventKey(id string) string { return s.key(KindEvent, id) }

// EventsCursorKey holds the last store revision the events controller
// turned into events (zero-padded, so values compare as numbers).
func (s *Store) EventsCursorKey() string { return s.key(KindMeta, "events-cursor") }

// NodeRegKey is a node's permanent registration.
func (s *Store) NodeRegKey(node string) string { return s.key(KindNodeReg, node) }

// NodeIdxKey allocates a node index (and so its overlay address).
func (s *Store) NodeIdxKey(index int) string { return s.key(KindNodeIdx, strconv.Itoa(index)) }

// NodeKey is a node's liveness record, under the node's lease.
func (s *Store) NodeKey(node string) string { return s.key(KindNode, node) }

// VNIKey allocates a VXLAN network identifier to a VPC.
func (s *Store) VNIKey(vni int) string { return s.key(KindVNI, strconv.Itoa(vni)) }

// VNINextKey holds the next VNI to try (decimal; absent: model.FirstAutoVNI).
func (s *Store) VNINextKey() string { return s.key(KindMeta, "vninext") }

// DefaultNodeKey names the node that holds hosts whose record has no
// nodeName (created before nodes existed).
func (s *Store) DefaultNodeKey() string { return s.key(KindMeta, "defaultnode") }

// HostNodeKey indexes a host under its node.
func (s *Store) HostNodeKey(node, hostID string) string { return s.key(KindHostNode, node, hostID) }

// HostNodePrefix is the prefix of a node's host index (its load).
func (s *Store) HostNodePrefix(node string) string { return s.key(KindHostNode, node) + "/" }

// ENIPlacementKey says which node serves an endpoint zone's ENI.
func (s *Store) ENIPlacementKey(epID, zoneID string) string { return s.key(KindENIPlace, epID, zoneID) }

// TokenRecord is stored at token/<sha256 hex of the token>.
type TokenRecord struct {
	AccountID string `json:"accountId"`
	Admin     bool   `json:"admin,omitempty"`
}

// relKind splits a key relative to the prefix into its kind and the rest.
func relKind(rel string) (kind, rest string, ok bool) { return strings.Cut(rel, "/") }

// Validate checks a token record.
func (t *TokenRecord) Validate() error {
	if !model.ValidAccountID(t.AccountID) {
		return fmt.Errorf("token record: %q is not an account ID", t.AccountID)
	}
	return nil
}
