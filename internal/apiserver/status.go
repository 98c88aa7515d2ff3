package apiserver

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// liveStatus holds the zone agents' reports, read fresh for one response.
type liveStatus struct {
	reports map[string]model.ZoneReport // zone/endpoint
	agents  map[string]bool             // zone -> alive
}

func (a *API) liveStatus(r *http.Request) (*liveStatus, error) {
	ls := &liveStatus{reports: map[string]model.ZoneReport{}, agents: map[string]bool{}}
	reps, _, err := store.List[model.ZoneReport](r.Context(), a.st, a.st.Key(store.KindReport))
	if err != nil {
		return nil, err
	}
	for _, rep := range reps {
		ls.reports[rep.ZoneID+"/"+rep.EndpointID] = rep
	}
	resp, err := a.st.Client().Get(r.Context(), a.st.Key(store.KindAgent), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, internal("list agents: %w", err)
	}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		ls.agents[k[strings.LastIndexByte(k, '/')+1:]] = true
	}
	return ls, nil
}

// backendHealth fills each backend's Health from the reports of endpoints
// of this service: Healthy if any live agent sees it healthy, Unhealthy if
// agents check it and none does, Unknown otherwise.
func (ls *liveStatus) backendHealth(s *model.EndpointService, endpointService map[string]string) {
	for i := range s.Resources {
		b := &s.Resources[i]
		port := b.Port
		if port == 0 && len(s.Ports) > 0 {
			port = s.Ports[0]
		}
		addr := net.JoinHostPort(b.IP, strconv.Itoa(port))
		b.Health = "Unknown"
		for _, rep := range ls.reports {
			if !ls.agents[rep.ZoneID] || endpointService[rep.EndpointID] != s.ServiceID {
				continue
			}
			if ok, checked := rep.Backends[addr]; checked {
				if ok {
					b.Health = "Healthy"
					break
				}
				b.Health = "Unhealthy"
			}
		}
	}
}

// view fills each zone's status from the reports of live agents.
func (ls *liveStatus) view(ep model.Endpoint) model.Endpoint {
	ep.Zones = append([]model.EndpointZone(nil), ep.Zones...)
	for i := range ep.Zones {
		ep.Zones[i].ZoneStatus = ZoneStatus(ep, ep.Zones[i].ZoneID, ls.agents[ep.Zones[i].ZoneID], ls.reports[ep.Zones[i].ZoneID+"/"+ep.EndpointID])
	}
	return ep
}

// ZoneStatus derives one zone's status: Creating until its agent reports the
// ENI ready, Connected while it serves, Disconnected while the connection is
// not accepted, Unavailable when the agent is gone or reports an error.
func ZoneStatus(ep model.Endpoint, zone string, agentAlive bool, rep model.ZoneReport) string {
	switch {
	case rep.EndpointID == "" && agentAlive:
		return model.ZoneCreating
	case !agentAlive:
		if ep.EndpointStatus == model.StatusCreating {
			return model.ZoneCreating
		}
		return model.ZoneUnavailable
	case rep.Error != "":
		return model.ZoneUnavailable
	case !rep.Ready:
		return model.ZoneCreating
	case ep.ConnectionStatus != model.ConnConnected:
		return model.ZoneDisconnected
	default:
		return model.ZoneConnected
	}
}
