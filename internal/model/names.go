package model

import "strings"

// Naming holds the deployment-wide settings that names derive from.
type Naming struct {
	Region        string // e.g. cn-hangzhou
	ServicePrefix string // default com.privlink
	DNSSuffix     string // default privatelink.internal
}

// Zone is the authoritative DNS zone, without trailing dot: <region>.<suffix>.
func (n Naming) Zone() string { return n.Region + "." + n.DNSSuffix }

// ServiceName is <prefix>.<region>.<serviceId>.
func (n Naming) ServiceName(serviceID string) string {
	return n.ServicePrefix + "." + n.Region + "." + serviceID
}

// ServiceDomain is <serviceId>.<region>.<suffix>.
func (n Naming) ServiceDomain(serviceID string) string { return serviceID + "." + n.Zone() }

// EndpointDomain is <endpointId>.<serviceId>.<region>.<suffix>.
func (n Naming) EndpointDomain(endpointID, serviceID string) string {
	return endpointID + "." + n.ServiceDomain(serviceID)
}

// ZoneDomain is <endpointId>-<zoneId>.<serviceId>.<region>.<suffix>.
func (n Naming) ZoneDomain(endpointID, zoneID, serviceID string) string {
	return endpointID + "-" + zoneID + "." + n.ServiceDomain(serviceID)
}

// ServiceIDFromName extracts the service ID from a service name, a service
// domain or a bare ID; ok is false when none is found.
func ServiceIDFromName(s string) (string, bool) {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	for _, part := range strings.Split(s, ".") {
		if ValidID(PrefixService, part) {
			return part, true
		}
	}
	return "", false
}
