package api

import "github.com/privlink/privlink/internal/model"

// Validate methods check what a request says on its own (today: the
// resource names); the server calls them right after decoding, before it
// checks the request against the state.

// Validate checks the account name.
func (r CreateAccountRequest) Validate() error { return model.ValidateName("Name", r.Name, false) }

// MaxNetnsPath bounds the path of a namespace to adopt (PATH_MAX).
const MaxNetnsPath = 4096

// Validate checks the VPC name and the length of the path to adopt.
func (r CreateVPCRequest) Validate() error {
	if len(r.NetnsPath) > MaxNetnsPath {
		return model.Invalid("NetnsPath", "netnsPath must be at most %d bytes", MaxNetnsPath)
	}
	if err := model.ValidateDescription("Description", r.Description); err != nil {
		return err
	}
	return model.ValidateName("VpcName", r.Name, true)
}

// Validate checks the vSwitch name.
func (r CreateVSwitchRequest) Validate() error {
	return model.ValidateName("VSwitchName", r.Name, true)
}

// Validate checks the security group name.
func (r CreateSecurityGroupRequest) Validate() error {
	return model.ValidateName("SecurityGroupName", r.Name, true)
}

// Validate checks the host name.
func (r CreateHostRequest) Validate() error { return model.ValidateName("HostName", r.Name, true) }

// Validate checks the endpoint name.
func (r CreateEndpointRequest) Validate() error {
	if err := model.ValidateDescription("EndpointDescription", r.Description); err != nil {
		return err
	}
	return model.ValidateName("EndpointName", r.Name, true)
}

// Validate checks the new endpoint name.
func (r UpdateEndpointRequest) Validate() error {
	if r.Description != nil {
		if err := model.ValidateDescription("EndpointDescription", *r.Description); err != nil {
			return err
		}
	}
	if r.Name == nil {
		return nil
	}
	return model.ValidateName("EndpointName", *r.Name, false)
}
