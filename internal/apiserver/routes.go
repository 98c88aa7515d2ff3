package apiserver

import (
	"fmt"

	"github.com/privlink/privlink/internal/api"
)

// route is one operation of api.Operations with its handler.
type route struct {
	api.Operation
	Handler handlerFunc
}

// handlers maps every operation ID to its handler.
func (a *API) handlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		api.OpCreateAccount:  a.createAccount,
		api.OpListAccounts:   a.listAccounts,
		api.OpWhoAmI:         a.whoami,
		api.OpDescribeRegion: a.describeRegion,

		api.OpCreateVPC: a.createVPC,
		api.OpListVPCs:  a.listVPCs,
		api.OpGetVPC:    a.getVPC,
		api.OpDeleteVPC: a.deleteVPC,

		api.OpCreateVSwitch: a.createVSwitch,
		api.OpListVSwitches: a.listVSwitches,
		api.OpGetVSwitch:    a.getVSwitch,
		api.OpDeleteVSwitch: a.deleteVSwitch,

		api.OpCreateSecurityGroup: a.createSecurityGroup,
		api.OpListSecurityGroups:  a.listSecurityGroups,
		api.OpGetSecurityGroup:    a.getSecurityGroup,
		api.OpDeleteSecurityGroup: a.deleteSecurityGroup,
		api.OpAuthorizeSG:         a.authorizeSecurityGroup,
		api.OpRevokeSG:            a.revokeSecurityGroup,

		api.OpCreateHost: a.createHost,
		api.OpListHosts:  a.listHosts,
		api.OpGetHost:    a.getHost,
		api.OpDeleteHost: a.deleteHost,

		api.OpCreateService:    a.createService,
		api.OpListServices:     a.listServices,
		api.OpSearchServices:   a.searchServices,
		api.OpGetService:       a.getService,
		api.OpUpdateService:    a.updateService,
		api.OpDeleteService:    a.deleteService,
		api.OpAllowAccount:     a.allowAccount,
		api.OpDisallowAccount:  a.disallowAccount,
		api.OpListConnections:  a.listConnections,
		api.OpAcceptConnection: a.acceptConnection,
		api.OpRejectConnection: a.rejectConnection,

		api.OpCreateEndpoint: a.createEndpoint,
		api.OpListEndpoints:  a.listEndpoints,
		api.OpGetEndpoint:    a.getEndpoint,
		api.OpDeleteEndpoint: a.deleteEndpoint,
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
