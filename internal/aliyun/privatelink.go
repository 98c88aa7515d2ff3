package aliyun

import (
	"net/http"

	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

// The PrivateLink API (2020-04-15): all 39 actions are known; those privlink
// cannot honour yet answer OperationUnsupported with the reason.

func privateLinkActions() map[string]action {
	return map[string]action{
		"CreateVpcEndpointService":                         createVpcEndpointService,
		"GetVpcEndpointServiceAttribute":                   getVpcEndpointServiceAttribute,
		"ListVpcEndpointServices":                          listVpcEndpointServices,
		"UpdateVpcEndpointServiceAttribute":                updateVpcEndpointServiceAttribute,
		"DeleteVpcEndpointService":                         deleteBy("ServiceId", (*client.Client).GetService, (*client.Client).DeleteService),
		"ListVpcEndpointServiceResources":                  listVpcEndpointServiceResources,
		"AttachResourceToVpcEndpointService":               attachResourceToVpcEndpointService,
		"DetachResourceFromVpcEndpointService":             detachResourceFromVpcEndpointService,
		"UpdateVpcEndpointServiceResourceAttribute":        updateVpcEndpointServiceResourceAttribute,
		"UpdateVpcEndpointZoneConnectionResourceAttribute": zoneResourceChange,
		"AddUserToVpcEndpointService":                      addUserToVpcEndpointService,
		"RemoveUserFromVpcEndpointService":                 removeUserFromVpcEndpointService,
		"ListVpcEndpointServiceUsers":                      listVpcEndpointServiceUsers,
		"ListVpcEndpointConnections":                       listVpcEndpointConnections,
		"EnableVpcEndpointConnection":                      connectionChange(true),
		"DisableVpcEndpointConnection":                     connectionChange(false),
		"UpdateVpcEndpointConnectionAttribute":             updateConnectionAttribute,
		"EnableVpcEndpointZoneConnection":                  zoneConnectionChange(false),
		"DisableVpcEndpointZoneConnection":                 zoneConnectionChange(true),
		"CreateVpcEndpoint":                                createVpcEndpoint,
		"GetVpcEndpointAttribute":                          getVpcEndpointAttribute,
		"ListVpcEndpoints":                                 listVpcEndpoints,
		"UpdateVpcEndpointAttribute":                       updateVpcEndpointAttribute,
		"DeleteVpcEndpoint":                                deleteBy("EndpointId", (*client.Client).GetEndpoint, (*client.Client).DeleteEndpoint),
		"AddZoneToVpcEndpoint":                             endpointZoneChange(true),
		"RemoveZoneFromVpcEndpoint":                        endpointZoneChange(false),
		"AttachSecurityGroupToVpcEndpoint":                 endpointSGChange(true),
		"DetachSecurityGroupFromVpcEndpoint":               endpointSGChange(false),
		"ListVpcEndpointZones":                             listVpcEndpointZones,
		"ListVpcEndpointSecurityGroups":                    listVpcEndpointSecurityGroups,
		"ListVpcEndpointServicesByEndUser":                 listVpcEndpointServicesByEndUser,
		"DescribeRegions":                                  describeRegions,
		"DescribeZones":                                    describeZones,
		"OpenPrivateLinkService":                           openPrivateLinkService,
		"CheckProductOpen":                                 checkProductOpen,
		"CheckResourceSupportOperate":                      checkResourceSupportOperate,
		"TagResources":                                     tagResources(plTagTypes),
		"UntagResources":                                   untagResources(plTagTypes),
		"ListTagResources":                                 listTagResources(plTagTypes, false),
		"ChangeResourceGroup":                              changeResourceGroup,
		"NotifyResourceAddressFamily":                      notifyResourceAddressFamily,
	}
}

type regionView struct {
	RegionId       string `json:"RegionId"`
	LocalName      string `json:"LocalName"`
	RegionEndpoint string `json:"RegionEndpoint"`
}

type describeRegionsResponse struct {
	Base
	Regions struct {
		Region []regionView `json:"Region"`
	} `json:"Regions"`
}

// describeRegions answers the deployment's one region; its endpoint is
// the address the request came to.
func describeRegions(c *call) (response, error) {
	out := &describeRegionsResponse{}
	out.Regions.Region = []regionView{{RegionId: c.h.cfg.Region, LocalName: c.h.cfg.Region, RegionEndpoint: c.host}}
	return out, nil
}

type describeZonesResponse struct {
	Base
	Zones struct {
		Zone []struct {
			ZoneId    string `json:"ZoneId"`
			LocalName string `json:"LocalName"`
		} `json:"Zone"`
	} `json:"Zones"`
}

func describeZones(c *call) (response, error) {
	if r := c.p.str("RegionId"); r != "" && r != c.h.cfg.Region {
		return nil, model.Errorf(http.StatusBadRequest, "InvalidRegionId.NotFound", "region %s is not served here; this deployment is %s", r, c.h.cfg.Region)
	}
	out := &describeZonesResponse{}
	for _, z := range c.h.cfg.Zones {
		out.Zones.Zone = append(out.Zones.Zone, struct {
			ZoneId    string `json:"ZoneId"`
			LocalName string `json:"LocalName"`
		}{z, z})
	}
	return out, nil
}

type openServiceResponse struct {
	Base
	OrderId string `json:"OrderId"`
}

// openPrivateLinkService: privlink is always open; there is no order.
func openPrivateLinkService(*call) (response, error) { return &openServiceResponse{}, nil }

type checkProductOpenResponse struct {
	Base
	Success bool `json:"Success"`
}

func checkProductOpen(*call) (response, error) { return &checkProductOpenResponse{Success: true}, nil }
