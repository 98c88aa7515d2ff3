package api

// Quotas, per Alibaba's defaults where they have one.
const (
	MaxEndpointsPerVPC    = 50
	MaxZonesPerEndpoint   = 10
	MaxBackendsPerService = 20
	MaxVSwitchesPerVPC    = 24
	MaxRulesPerGroup      = 100
	MaxPortsPerService    = 10
	// MaxSecurityGroupsPerEndpoint is Alibaba's limit too.
	MaxSecurityGroupsPerEndpoint = 10
	// MaxBodyBytes is the largest request body the server reads.
	MaxBodyBytes = 1 << 20
	// MaxPageSize is the largest maxResults a list accepts.
	MaxPageSize = 100
)
