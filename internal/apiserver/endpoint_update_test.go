package apiserver_test

import (
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
)

// TestEndpointSecurityGroups: a group of the endpoint's VPC is attached
// and detached after creation; not one of another VPC, not twice, not the
// last one, not by another account; an attached group cannot be deleted.
func TestEndpointSecurityGroups(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16101})
	ep, sg1 := s.Endpoint.EndpointID, s.SG.SecurityGroupID
	sg2, err := s.Consumer.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: s.ConsumerVPC.VpcID, Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Consumer.CreateVPC(bg, api.CreateVPCRequest{Name: "other", CidrBlock: "10.77.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	sgOther, err := s.Consumer.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: other.VpcID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Consumer.DetachSecurityGroup(bg, ep, sg1)
	wantCode(t, err, "OperationDenied.LastSecurityGroup")
	_, err = s.Consumer.AttachSecurityGroup(bg, ep, sgOther.SecurityGroupID)
	wantCode(t, err, "InvalidParameter.SecurityGroupId")
	_, err = s.Consumer.AttachSecurityGroup(bg, ep, sg1)
	wantCode(t, err, "IncorrectStatus.SecurityGroupAttached")
	_, err = s.Provider.AttachSecurityGroup(bg, ep, sg2.SecurityGroupID)
	wantCode(t, err, "EndpointNotFound")
	got, err := s.Consumer.AttachSecurityGroup(bg, ep, sg2.SecurityGroupID)
	if err != nil || len(got.SecurityGroupIDs) != 2 {
		t.Fatalf("attach: %+v %v", got.SecurityGroupIDs, err)
	}
	_, err = s.Consumer.DeleteSecurityGroup(bg, sg2.SecurityGroupID)
	wantCode(t, err, "DependencyViolation.SecurityGroup")
	got, err = s.Consumer.DetachSecurityGroup(bg, ep, sg1)
	if err != nil || len(got.SecurityGroupIDs) != 1 || got.SecurityGroupIDs[0] != sg2.SecurityGroupID {
		t.Fatalf("detach: %+v %v", got.SecurityGroupIDs, err)
	}
	_, err = s.Consumer.DetachSecurityGroup(bg, ep, sg1)
	wantCode(t, err, "IncorrectStatus.SecurityGroupNotAttached")
	if _, err := s.Consumer.DeleteSecurityGroup(bg, sg1); err != nil {
		t.Fatalf("a detached group cannot be deleted: %v", err)
	}
}

// TestEndpointZones: a zone is removed (its address released: the
// vSwitch can go) and added back; not the last zone, not twice, not on
// another zone's vSwitch, not by another account.
func TestEndpointZones(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16102})
	ep, zones := s.Endpoint.EndpointID, e.Config().Zones
	_, err := s.Provider.RemoveEndpointZone(bg, ep, zones[1])
	wantCode(t, err, "EndpointNotFound")
	got, err := s.Consumer.RemoveEndpointZone(bg, ep, zones[1])
	if err != nil || len(got.Zones) != 1 || got.Zones[0].ZoneID != zones[0] {
		t.Fatalf("remove: %+v %v", got.Zones, err)
	}
	_, err = s.Consumer.RemoveEndpointZone(bg, ep, zones[1])
	wantCode(t, err, "IncorrectStatus.ZoneNotFound")
	_, err = s.Consumer.RemoveEndpointZone(bg, ep, zones[0])
	wantCode(t, err, "OperationDenied.LastZone")
	_, err = s.Consumer.AddEndpointZone(bg, ep, api.EndpointZoneRequest{ZoneID: zones[1], VSwitchID: s.ConsumerVSwitches[0].VSwitchID})
	wantCode(t, err, "InvalidParameter.VSwitchId")
	_, err = s.Consumer.AddEndpointZone(bg, ep, api.EndpointZoneRequest{ZoneID: zones[0], VSwitchID: s.ConsumerVSwitches[0].VSwitchID})
	wantCode(t, err, "IncorrectStatus.ZoneExists")
	// The removed zone's address is free again: its vSwitch can go, and
	// come back for the zone.
	if _, err := s.Consumer.DeleteVSwitch(bg, s.ConsumerVSwitches[1].VSwitchID); err != nil {
		t.Fatalf("the removed zone's address was not released: %v", err)
	}
	vsw, err := s.Consumer.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: s.ConsumerVPC.VpcID, ZoneID: zones[1], CidrBlock: s.ConsumerVSwitches[1].CidrBlock.String()})
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.Consumer.AddEndpointZone(bg, ep, api.EndpointZoneRequest{ZoneID: zones[1], VSwitchID: vsw.VSwitchID})
	if err != nil || len(got.Zones) != 2 || got.Zones[1].VSwitchID != vsw.VSwitchID || !got.Zones[1].IP.IsValid() {
		t.Fatalf("add: %+v %v", got.Zones, err)
	}
	if _, err := s.Consumer.DeleteVSwitch(bg, vsw.VSwitchID); err == nil {
		t.Fatal("a vSwitch with the added zone's ENI was deleted")
	}
}

// TestDescriptions: a VPC and an endpoint keep the description they were
// created with; the endpoint's changes alone, a rename leaves it, a bad
// one changes nothing, and the provider cannot change it.
func TestDescriptions(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16103})
	v, err := s.Consumer.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.78.0.0/16", Description: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Consumer.GetVPC(bg, v.VpcID); err != nil || got.Description != "staging" {
		t.Fatalf("VPC: %+v %v", got, err)
	}
	ep := s.Endpoint.EndpointID
	str := func(s string) *string { return &s }
	steps := []struct {
		name     string
		req      api.UpdateEndpointRequest
		provider bool
		code     string
		want     string
	}{
		{"set", api.UpdateEndpointRequest{Description: str("orders database")}, false, "", "orders database"},
		{"rename keeps it", api.UpdateEndpointRequest{Name: str("orders")}, false, "", "orders database"},
		{"too long", api.UpdateEndpointRequest{Description: str(strings.Repeat("d", api.MaxDescription+1))}, false, "InvalidParameter.EndpointDescription", "orders database"},
		{"by the provider", api.UpdateEndpointRequest{Description: str("mine")}, true, "EndpointNotFound", "orders database"},
		{"cleared", api.UpdateEndpointRequest{Description: str("")}, false, "", ""},
	}
	for _, st := range steps {
		c := s.Consumer
		if st.provider {
			c = s.Provider
		}
		_, err := c.UpdateEndpoint(bg, ep, st.req)
		if st.code != "" {
			wantCode(t, err, st.code)
		} else if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := s.Consumer.GetEndpoint(bg, ep)
		if err != nil || got.Description != st.want {
			t.Fatalf("%s: description %q, want %q (%v)", st.name, got.Description, st.want, err)
		}
	}
}
