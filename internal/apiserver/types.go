package apiserver

import "github.com/privlink/privlink/internal/model"

type (
	vpcType  = model.VPC
	vswType  = model.VSwitch
	sgType   = model.SecurityGroup
	hostType = model.Host
	svcType  = model.EndpointService
	epType   = model.Endpoint
)

var (
	vpcT  = model.VPC{}
	vswT  = model.VSwitch{}
	sgT   = model.SecurityGroup{}
	hostT = model.Host{}
	svcT  = model.EndpointService{}
	epT   = model.Endpoint{}
)
