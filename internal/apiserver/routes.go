package apiserver

import (
	"fmt"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// route is one operation of api.Operations with its handler.
type route struct {
	api.Operation
	Handler handlerFunc
}

// handlers maps every operation ID to its handler.
func (a *API) handlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		api.OpCreateAccount:  body(a.createAccount),
		api.OpListAccounts:   a.listAccounts,
		api.OpRotateToken:    a.rotateToken,
		api.OpDeleteAccount:  a.deleteAccount,
		api.OpGetQuota:       a.getQuota,
		api.OpSetQuota:       body(a.setQuota),
		api.OpWhoAmI:         a.whoami,
		api.OpDescribeRegion: a.describeRegion,

		api.OpCreateAccessKey: a.createAccessKey,
		api.OpListAccessKeys:  a.listAccessKeys,
		api.OpDeleteAccessKey: a.deleteAccessKey,

		api.OpCreateVPC: body(a.createVPC),
		api.OpListVPCs:  listOf[model.VPC](a, store.KindVPC),
		api.OpGetVPC:    getOf[model.VPC](a, store.KindVPC),
		api.OpDeleteVPC: deleteOf(a, store.KindVPC, a.deleteVPC),

		api.OpAllocateVPCIPv6: body(a.allocateVPCIPv6),

		api.OpCreateVSwitch: body(a.createVSwitch),
		api.OpListVSwitches: listInVPC[model.VSwitch](a, store.KindVSwitch),
		api.OpGetVSwitch:    getOf[model.VSwitch](a, store.KindVSwitch),
		api.OpDeleteVSwitch: deleteOf(a, store.KindVSwitch, a.deleteVSwitch),

		api.OpCreateSecurityGroup: body(a.createSecurityGroup),
		api.OpListSecurityGroups:  listInVPC[model.SecurityGroup](a, store.KindSG),
		api.OpGetSecurityGroup:    getOf[model.SecurityGroup](a, store.KindSG),
		api.OpDeleteSecurityGroup: deleteOf(a, store.KindSG, a.deleteSecurityGroup),
		api.OpAuthorizeSG:         body(a.authorizeSecurityGroup),
		api.OpRevokeSG:            body(a.revokeSecurityGroup),

		api.OpCreateHost: body(a.createHost),
		api.OpListHosts:  listInVPC[model.Host](a, store.KindHost),
		api.OpGetHost:    getOf[model.Host](a, store.KindHost),
		api.OpDeleteHost: deleteOf(a, store.KindHost, a.deleteHost),

		api.OpCreateService:    body(a.createService),
		api.OpListServices:     listOf[model.EndpointService](a, store.KindService),
		api.OpSearchServices:   a.searchServices,
		api.OpGetService:       a.getService,
		api.OpUpdateService:    body(a.updateService),
		api.OpDeleteService:    a.finishServiceDelete(),
		api.OpAllowAccount:     body(a.allowAccount),
		api.OpDisallowAccount:  a.disallowAccount,
		api.OpListConnections:  a.listConnections,
		api.OpAcceptConnection: a.acceptConnection,
		api.OpRejectConnection: a.rejectConnection,
		api.OpUpdateConnection: body(a.updateConnection),
		api.OpEnableZoneConn:   a.zoneConnection(false),
		api.OpDisableZoneConn:  a.zoneConnection(true),
		api.OpZoneResource:     body(a.zoneResource),

		api.OpCreateEndpoint:     body(a.createEndpoint),
		api.OpListEndpoints:      a.listEndpoints,
		api.OpGetEndpoint:        a.getEndpoint,
		api.OpDeleteEndpoint:     deleteOf(a, store.KindEndpoint, a.deleteEndpoint),
		api.OpUpdateEndpoint:     body(a.updateEndpoint),
		api.OpAddEndpointZone:    body(a.addEndpointZone),
		api.OpRemoveEndpointZone: a.removeEndpointZone,
		api.OpAttachEndpointSG:   body(a.attachEndpointSG),
		api.OpDetachEndpointSG:   a.detachEndpointSG,
		api.OpEndpointTraffic:    a.endpointTraffic,
		api.OpServiceTraffic:     a.serviceTraffic,

		api.OpListEvents:         a.listEvents,
		api.OpCreateNotification: body(a.createNotification),
		api.OpListNotifications:  a.listNotifications,
		api.OpDeleteNotification: a.deleteNotification,

		api.OpCreateLoadBalancer: body(a.createLoadBalancer),
		api.OpListLoadBalancers:  a.listLoadBalancers,
		api.OpGetLoadBalancer:    a.getLoadBalancer,
		api.OpDeleteLoadBalancer: deleteOf(a, store.KindLB, a.deleteLoadBalancer),
		api.OpAttachServiceLB:    body(a.attachServiceLB),
		api.OpDetachServiceLB:    a.detachServiceLB,

		api.OpListNodes:  a.listNodes,
		api.OpDeleteNode: a.deleteNode,

		api.OpTagResources:        body(a.tagResources),
		api.OpUntagResources:      body(a.untagResources),
		api.OpListTagResources:    a.listTagResources,
		api.OpChangeResourceGroup: body(a.changeResourceGroup),
	}
}

// routes pairs every operation with its handler; an operation without one
// is a programming error caught by the first test that starts a server.
func (a *API) routes() []route {
	hs := a.handlers()
	out := make([]route, 0, len(api.Operations))
	for _, op := range api.Operations {
		h := hs[op.ID]
		if h == nil {
			panic(fmt.Sprintf("apiserver: no handler for operation %s", op.ID))
		}
		out = append(out, route{Operation: op, Handler: h})
	}
	if len(hs) != len(out) {
		panic("apiserver: a handler is registered for an operation api.Operations does not list")
	}
	return out
}

// Routes lists method and path of every operation (for tests and docs).
func (a *API) Routes() [][2]string {
	var out [][2]string
	for _, r := range a.routes() {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}
