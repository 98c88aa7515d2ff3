package apiserver_test

import (
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
