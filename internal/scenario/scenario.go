package scenario

import (
	"context"

	"github.com/privlink/privlink/internal/model"
)

// Plan is a whole scenario, one spec per phase.
type Plan struct {
	Provider NetworkSpec
	Service  ServiceSpec
	Consumer NetworkSpec
	Endpoint *EndpointSpec // nil: Build creates no endpoint
}

// Scenario runs a Plan phase by phase and holds what each phase made.
// Phases run in order: CreateProvider, CreateService, CreateConsumer,
// CreateEndpoint (CreateConsumer may also come first).
type Scenario struct {
	*Builder
	Plan        Plan
	ProviderNet Network
	Service     model.EndpointService
	ConsumerNet Network
	Endpoint    model.Endpoint
}

// New prepares a scenario; it creates nothing yet.
func New(b *Builder, p Plan) *Scenario { return &Scenario{Builder: b, Plan: p} }

// Build runs every phase, the endpoint's only if the plan has one.
func (s *Scenario) Build(ctx context.Context) error {
	phases := []func(context.Context) error{s.CreateProvider, s.CreateService, s.CreateConsumer}
	if s.Plan.Endpoint != nil {
		phases = append(phases, s.CreateEndpoint)
	}
	for _, f := range phases {
		if err := f(ctx); err != nil {
			return err
		}
	}
	return nil
}

// CreateProvider creates the provider's VPC, vSwitches and hosts.
func (s *Scenario) CreateProvider(ctx context.Context) (err error) {
	s.ProviderNet, err = s.Network(ctx, ProviderSide, s.Plan.Provider)
	return err
}

// CreateService publishes the service from the provider's network.
func (s *Scenario) CreateService(ctx context.Context) (err error) {
	s.Service, err = s.Publish(ctx, s.ProviderNet, s.Plan.Service)
	return err
}

// CreateConsumer creates the consumer's VPC, vSwitches, security group and hosts.
func (s *Scenario) CreateConsumer(ctx context.Context) (err error) {
	s.ConsumerNet, err = s.Network(ctx, ConsumerSide, s.Plan.Consumer)
	return err
}

// CreateEndpoint creates the endpoint (an empty EndpointSpec if the plan has
// none); it does not wait for it to become Active.
func (s *Scenario) CreateEndpoint(ctx context.Context) (err error) {
	var spec EndpointSpec
	if s.Plan.Endpoint != nil {
		spec = *s.Plan.Endpoint
	}
	s.Endpoint, err = s.Connect(ctx, s.ConsumerNet, s.Service, spec)
	return err
}
