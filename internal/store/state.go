package store

import (
	"encoding/json"
	"strings"

	"github.com/privlink/privlink/internal/model"
)

// Key kinds (the first path element after the prefix).
const (
	KindAccount  = "account"
	KindToken    = "token"
	KindVPC      = "vpc"
	KindVSwitch  = "vsw"
	KindSG       = "sg"
	KindHost     = "host"
	KindService  = "svc"
	KindEndpoint = "ep"
	KindIPAM     = "ipam"
	KindIdem     = "idem"
	KindReport   = "report"
	KindAgent    = "agent"
)

// State is an immutable decoded snapshot of the resources that the data
// plane needs, as of Rev. Consumers must not modify it.
type State struct {
	Rev       int64
	VPCs      map[string]*model.VPC
	VSwitches map[string]*model.VSwitch
	SGs       map[string]*model.SecurityGroup
	Hosts     map[string]*model.Host
	Services  map[string]*model.EndpointService
	Endpoints map[string]*model.Endpoint
	// Reports is keyed by zoneID + "/" + endpointID.
	Reports map[string]*model.ZoneReport
	// Agents is keyed by zoneID.
	Agents map[string]*model.AgentInfo
}

// watchedKinds are the kinds a State holds.
var watchedKinds = []string{KindVPC, KindVSwitch, KindSG, KindHost, KindService, KindEndpoint, KindReport, KindAgent}

func newState() *State {
	return &State{
		VPCs: map[string]*model.VPC{}, VSwitches: map[string]*model.VSwitch{},
		SGs: map[string]*model.SecurityGroup{}, Hosts: map[string]*model.Host{},
		Services: map[string]*model.EndpointService{}, Endpoints: map[string]*model.Endpoint{},
		Reports: map[string]*model.ZoneReport{}, Agents: map[string]*model.AgentInfo{},
	}
}

// clone copies the maps (not the values, which are immutable).
func (s *State) clone() *State {
	n := &State{Rev: s.Rev,
		VPCs: cloneMap(s.VPCs), VSwitches: cloneMap(s.VSwitches), SGs: cloneMap(s.SGs),
		Hosts: cloneMap(s.Hosts), Services: cloneMap(s.Services), Endpoints: cloneMap(s.Endpoints),
		Reports: cloneMap(s.Reports), Agents: cloneMap(s.Agents)}
	return n
}

func cloneMap[V any](m map[string]*V) map[string]*V {
	n := make(map[string]*V, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n
}

// apply sets (value != nil) or deletes a key relative to the prefix, e.g.
// "ep/ep-xxx". Undecodable values are treated as deleted.
func (s *State) apply(rel string, value []byte) {
	kind, id, ok := strings.Cut(rel, "/")
	if !ok {
		return
	}
	switch kind {
	case KindVPC:
		set(s.VPCs, id, value)
	case KindVSwitch:
		set(s.VSwitches, id, value)
	case KindSG:
		set(s.SGs, id, value)
	case KindHost:
		set(s.Hosts, id, value)
	case KindService:
		set(s.Services, id, value)
	case KindEndpoint:
		set(s.Endpoints, id, value)
	case KindReport:
		set(s.Reports, id, value)
	case KindAgent:
		set(s.Agents, id, value)
	}
}

func set[V any](m map[string]*V, id string, value []byte) {
	if value == nil {
		delete(m, id)
		return
	}
	v := new(V)
	if err := json.Unmarshal(value, v); err != nil {
		delete(m, id)
		return
	}
	m[id] = v
}

// Report returns the zone report of an endpoint zone, or nil.
func (s *State) Report(zoneID, endpointID string) *model.ZoneReport {
	return s.Reports[zoneID+"/"+endpointID]
}
