package model

import (
	"fmt"
	"strings"
	"unicode"
)

// Quota is an account's resource limits, stored at quota/<accountId>; an
// account without a record has DefaultQuota. Every field is a limit the
// admin may set from 0 (no new resource of the kind) to QuotaItem.Max.
type Quota struct {
	Vpcs                  int `json:"vpcs"`
	VSwitchesPerVpc       int `json:"vSwitchesPerVpc"`
	Hosts                 int `json:"hosts"`
	SecurityGroups        int `json:"securityGroups"`
	RulesPerSecurityGroup int `json:"rulesPerSecurityGroup"`
	Services              int `json:"services"`
	EndpointsPerVpc       int `json:"endpointsPerVpc"`
}

// QuotaItem describes one limit of a Quota.
type QuotaItem struct {
	Name  string // the JSON field and CLI flag stem: "vpcs"
	Code  string // the error code when a create would exceed it
	Scope string // what it counts in: "account", "vpc" or "securityGroup"
	Noun  string // what it counts, plural
	Def   int    // the default
	Max   int    // the highest value the admin may set
	Field func(*Quota) *int
}

// QuotaItems are the limits of a Quota, with Alibaba's defaults where it
// has one (VPCs per region 10, vSwitches per VPC 150, security groups
// 100, rules per security group 200, services 20, endpoints per VPC 50).
// The maximum of endpointsPerVpc is 20,000 so that a VPC can hold the
// 10,000 endpoints one node is sized for (docs/benchmarks.md) with room:
// its quota counts index keys, its addresses come from its vSwitches'
// allocations, and its lists page through indexes, none O(endpoints) per
// request.
var QuotaItems = []QuotaItem{
	{"vpcs", "QuotaExceeded.Vpc", "account", "VPCs", 10, 1000, func(q *Quota) *int { return &q.Vpcs }},
	{"vSwitchesPerVpc", "QuotaExceeded.VSwitch", "vpc", "vSwitches", 150, 1000, func(q *Quota) *int { return &q.VSwitchesPerVpc }},
	{"hosts", "QuotaExceeded.Host", "account", "hosts", 100, 10000, func(q *Quota) *int { return &q.Hosts }},
	{"securityGroups", "QuotaExceeded.SecurityGroup", "account", "security groups", 100, 1000, func(q *Quota) *int { return &q.SecurityGroups }},
	{"rulesPerSecurityGroup", "QuotaExceeded.SecurityGroupRule", "securityGroup", "rules", 200, 1000, func(q *Quota) *int { return &q.RulesPerSecurityGroup }},
	{"services", "QuotaExceeded.Service", "account", "endpoint services", 20, 1000, func(q *Quota) *int { return &q.Services }},
	{"endpointsPerVpc", "QuotaExceeded.Endpoint", "vpc", "endpoints", 50, 20000, func(q *Quota) *int { return &q.EndpointsPerVpc }},
}

// DefaultQuota is the quota of an account the admin did not set one for.
func DefaultQuota() Quota {
	var q Quota
	for _, it := range QuotaItems {
		*it.Field(&q) = it.Def
	}
	return q
}

// MaxQuota has every limit at its highest value (the admin's quota).
func MaxQuota() Quota {
	var q Quota
	for _, it := range QuotaItems {
		*it.Field(&q) = it.Max
	}
	return q
}

// QuotaItemNamed returns the item called name.
func QuotaItemNamed(name string) (QuotaItem, bool) {
	for _, it := range QuotaItems {
		if it.Name == name {
			return it, true
		}
	}
	return QuotaItem{}, false
}

// Validate checks every limit is within 0..Max.
func (q *Quota) Validate() error {
	for _, it := range QuotaItems {
		if v := *it.Field(q); v < 0 || v > it.Max {
			return fmt.Errorf("quota %s: %d is not in 0..%d", it.Name, v, it.Max)
		}
	}
	return nil
}

// Flag is the item's CLI flag: its name in kebab case (vSwitchesPerVpc:
// vswitches-per-vpc).
func (it QuotaItem) Flag() string {
	var b strings.Builder
	for i, c := range it.Name {
		if unicode.IsUpper(c) {
			if i > 1 && !unicode.IsUpper(rune(it.Name[i-1])) { // "vSwitch" is one word
				b.WriteByte('-')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}
