package scenario

import "fmt"

// Side is whose account a resource belongs to.
type Side string

const (
	ProviderSide Side = "provider"
	ConsumerSide Side = "consumer"
)

// Kind is a resource's kind, as events name it.
type Kind string

const (
	KindVPC           Kind = "vpc"
	KindVSwitch       Kind = "vSwitch"
	KindSecurityGroup Kind = "securityGroup"
	KindHost          Kind = "host"
	KindService       Kind = "service"
	KindEndpoint      Kind = "endpoint"
)

// Event reports one resource created. Resource is the API's answer:
// model.VPC, model.VSwitch, model.SecurityGroup, model.Host,
// model.EndpointService or model.Endpoint.
type Event struct {
	Side     Side
	Kind     Kind
	ID       string
	Resource any
}

func (e Event) String() string { return fmt.Sprintf("%s %s %s", e.Side, e.Kind, e.ID) }

func (b *Builder) report(side Side, kind Kind, id string, res any) {
	if b.Progress != nil {
		b.Progress(Event{Side: side, Kind: kind, ID: id, Resource: res})
	}
}
