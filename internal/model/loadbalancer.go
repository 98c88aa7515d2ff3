package model

import (
	"errors"
	"slices"
)

// LoadBalancer is a provider's network load balancer (Alibaba's NLB, as a
// service resource): listener ports and backends per zone in one VPC of
// its account. Attaching it to an endpoint service gives the service its
// ports, zones and backends.
type LoadBalancer struct {
	LoadBalancerID string    `json:"loadBalancerId"`
	AccountID      string    `json:"accountId"`
	Name           string    `json:"loadBalancerName,omitempty"`
	VpcID          string    `json:"vpcId"`
	Ports          []int     `json:"ports"`
	Backends       []Backend `json:"backends"`
	Zones          []string  `json:"zoneIds"`
	Status         string    `json:"loadBalancerStatus"`
	CreateTime     string    `json:"createTime"`
	// ServiceIDs are the services it is attached to; filled in answers
	// (not stored: the services hold the attachment).
	ServiceIDs []string `json:"serviceIds,omitempty"`
}

// Validate checks a load balancer record.
func (l *LoadBalancer) Validate() error {
	errs := []error{id(PrefixLB, l.LoadBalancerID), account(l.AccountID), id(PrefixVPC, l.VpcID)}
	if len(l.Ports) == 0 || len(l.Backends) == 0 {
		errs = append(errs, errors.New("a load balancer has at least one port and one backend"))
	}
	for _, p := range l.Ports {
		errs = append(errs, port("ports", p, false))
	}
	for _, b := range l.Backends {
		errs = append(errs, addr4("backend ip", b.IP), nonEmpty("backend zoneId", b.ZoneID), port("backend port", b.Port, true))
		if !slices.Contains(l.Zones, b.ZoneID) {
			errs = append(errs, errors.New("backend zone "+b.ZoneID+" is not in zoneIds"))
		}
	}
	return errors.Join(errs...)
}

func (l LoadBalancer) Owner() string { return l.AccountID }
func (l LoadBalancer) ID() string    { return l.LoadBalancerID }
func (l LoadBalancer) VPC() string   { return l.VpcID }
