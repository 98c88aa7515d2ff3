package aliyun_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/privlink/privlink/internal/aliyun"
	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
)

var bg = context.Background()

// TestSDKAuthAndErrors drives a loopback server with the official SDK:
// unknown IDs, other accounts' IDs, a wrong secret, an unknown key, a
// replayed nonce, an expired timestamp, a bearer token, a dry run,
// MaxResults clamping, an unsupported action, and one source of truth
// with /v1. Every error carries the code the SDK reports and a RequestId.
func TestSDKAuthAndErrors(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	alice, _ := e.Account(t, "alice")
	bob, bobID := e.Account(t, "bob")
	ak, err := alice.CreateAccessKey(bg)
	must(t, "create access key", err)
	bk, err := bob.CreateAccessKey(bg)
	must(t, "create access key", err)
	a := akClients(t, e, ak.AccessKeyID, ak.AccessKeySecret)
	b := akClients(t, e, bk.AccessKeyID, bk.AccessKeySecret)

	// A VPC made through the RPC API is alice's through /v1 too.
	cv := vpc.CreateCreateVpcRequest()
	cv.CidrBlock, cv.VpcName = "10.1.0.0/16", "a"
	vr, err := a.VPC.CreateVpc(cv)
	must(t, "CreateVpc", err)
	strict[vpc.CreateVpcResponse](t, "CreateVpc", vr)
	if got, err := alice.GetVPC(bg, vr.VpcId); err != nil || got.CidrBlock.String() != "10.1.0.0/16" {
		t.Fatalf("/v1 does not see the RPC's VPC: %+v %v", got, err)
	}

	t.Run("unknown IDs", func(t *testing.T) {
		g := privatelink.CreateGetVpcEndpointAttributeRequest()
		g.EndpointId = "ep-doesnotexist"
		_, err := a.PL.GetVpcEndpointAttribute(g)
		wantCode(t, "GetVpcEndpointAttribute", err, "EndpointNotFound", 400)
		s := privatelink.CreateGetVpcEndpointServiceAttributeRequest()
		s.ServiceId = "epsrv-doesnotexist"
		_, err = a.PL.GetVpcEndpointServiceAttribute(s)
		wantCode(t, "GetVpcEndpointServiceAttribute", err, "EndpointServiceNotFound", 400)
		d := vpc.CreateDeleteVSwitchRequest()
		d.VSwitchId = "vsw-doesnotexist"
		_, err = a.VPC.DeleteVSwitch(d)
		wantCode(t, "DeleteVSwitch", err, "InvalidVSwitchId.NotFound", 400)
		sg := ecs.CreateDescribeSecurityGroupAttributeRequest()
		sg.SecurityGroupId = "sg-doesnotexist"
		_, err = a.ECS.DescribeSecurityGroupAttribute(sg)
		wantCode(t, "DescribeSecurityGroupAttribute", err, "InvalidSecurityGroupId.NotFound", 400)
	})

	t.Run("other account's IDs", func(t *testing.T) {
		d := vpc.CreateDeleteVpcRequest()
		d.VpcId = vr.VpcId
		_, err := b.VPC.DeleteVpc(d)
		wantCode(t, "DeleteVpc as bob", err, "InvalidVpcId.NotFound", 400)
		q := vpc.CreateDescribeVpcsRequest()
		q.VpcId = vr.VpcId
		resp, err := b.VPC.DescribeVpcs(q)
		must(t, "DescribeVpcs as bob", err)
		strict[vpc.DescribeVpcsResponse](t, "DescribeVpcs", resp)
		if resp.TotalCount != 0 || len(resp.Vpcs.Vpc) != 0 {
			t.Fatalf("bob sees alice's VPC: %+v", resp.Vpcs)
		}
		sw := vpc.CreateCreateVSwitchRequest()
		sw.VpcId, sw.ZoneId, sw.CidrBlock = vr.VpcId, e.Config().Zones[0], "10.1.1.0/24"
		_, err = b.VPC.CreateVSwitch(sw)
		wantCode(t, "CreateVSwitch in alice's VPC as bob", err, "InvalidVpcId.NotFound", 400)
	})

	t.Run("wrong secret", func(t *testing.T) {
		bad := akClients(t, e, ak.AccessKeyID, strings.Repeat("x", 30))
		_, err := bad.PL.DescribeRegions(privatelink.CreateDescribeRegionsRequest())
		se := wantCode(t, "DescribeRegions with a wrong secret", err, "SignatureDoesNotMatch", 400)
		if !strings.Contains(se.Message(), "server string to sign is:POST&%2F&") {
			t.Errorf("message lacks the server's string-to-sign: %s", se.Message())
		}
		// The SDK compares the server's string-to-sign with its own and,
		// when equal, blames the secret: proof that both sign the same.
		if !strings.Contains(se.Recommend(), "InvalidAccessKeySecret") {
			t.Errorf("the SDK's string-to-sign differs from the server's: recommend %q, message %s", se.Recommend(), se.Message())
		}
	})

	t.Run("unknown key", func(t *testing.T) {
		bad := akClients(t, e, "PLAKAAAAAAAAAAAAAAAAAAAA", ak.AccessKeySecret)
		_, err := bad.PL.DescribeRegions(privatelink.CreateDescribeRegionsRequest())
		wantCode(t, "DescribeRegions with an unknown key", err, "InvalidAccessKeyId.NotFound", 404)
	})

	t.Run("deleted key", func(t *testing.T) {
		k, err := bob.CreateAccessKey(bg)
		must(t, "create", err)
		c := akClients(t, e, k.AccessKeyID, k.AccessKeySecret)
		_, err = c.PL.DescribeRegions(privatelink.CreateDescribeRegionsRequest())
		must(t, "DescribeRegions", err)
		_, err = bob.DeleteAccessKey(bg, k.AccessKeyID)
		must(t, "delete", err)
		_, err = c.PL.DescribeRegions(privatelink.CreateDescribeRegionsRequest())
		wantCode(t, "DescribeRegions with a deleted key", err, "InvalidAccessKeyId.NotFound", 404)
	})

	t.Run("replayed nonce", func(t *testing.T) {
		resp, err := a.PL.DescribeRegions(privatelink.CreateDescribeRegionsRequest())
		must(t, "DescribeRegions", err)
		strict[privatelink.DescribeRegionsResponse](t, "DescribeRegions", resp)
		again := a.rec.replay(t)
		body := rpcError(t, again)
		if again.StatusCode != 400 || body.Code != "SignatureNonceUsed" || body.RequestId == "" {
			t.Fatalf("replay: HTTP %d %+v", again.StatusCode, body)
		}
	})

	t.Run("expired timestamp", func(t *testing.T) {
		for _, skew := range []time.Duration{-16 * time.Minute, 16 * time.Minute} {
			resp := signedPost(t, e, ak.AccessKeyID, ak.AccessKeySecret, time.Now().Add(skew), map[string]string{"Action": "DescribeRegions", "Version": aliyun.VersionPrivateLink})
			body := rpcError(t, resp)
			if resp.StatusCode != 400 || body.Code != "InvalidTimeStamp.Expired" {
				t.Fatalf("skew %v: HTTP %d %+v", skew, resp.StatusCode, body)
			}
		}
		resp := signedPost(t, e, ak.AccessKeyID, ak.AccessKeySecret, time.Now().Add(-14*time.Minute), map[string]string{"Action": "DescribeRegions", "Version": aliyun.VersionPrivateLink})
		if resp.StatusCode != 200 {
			t.Fatalf("14 minutes old: HTTP %d %+v", resp.StatusCode, rpcError(t, resp))
		}
	})

	t.Run("bearer token", func(t *testing.T) {
		c := newClients(t, e, credentials.NewBearerTokenCredential(bob.Token()))
		r := vpc.CreateDescribeVpcsRequest()
		resp, err := c.VPC.DescribeVpcs(r)
		must(t, "DescribeVpcs with a bearer token", err)
		strict[vpc.DescribeVpcsResponse](t, "DescribeVpcs", resp)
		if resp.TotalCount != 0 {
			t.Fatalf("bob's token sees %d VPCs", resp.TotalCount)
		}
		bad := newClients(t, e, credentials.NewBearerTokenCredential("plk_wrong"))
		_, err = bad.VPC.DescribeVpcs(vpc.CreateDescribeVpcsRequest())
		wantCode(t, "DescribeVpcs with a wrong token", err, "InvalidToken.Unknown", 401)
	})

	t.Run("dry run", func(t *testing.T) {
		r := vpc.CreateCreateVpcRequest()
		r.CidrBlock, r.DryRun = "10.2.0.0/16", requests.NewBoolean(true)
		_, err := a.VPC.CreateVpc(r)
		wantCode(t, "CreateVpc DryRun", err, "DryRunOperation", 400)
		vpcs, err := alice.ListVPCs(bg)
		must(t, "list", err)
		if len(vpcs) != 1 {
			t.Fatalf("a dry run created a VPC: %d VPCs", len(vpcs))
		}
		d := vpc.CreateDeleteVpcRequest()
		d.VpcId, d.DryRun = vpcs[0].VpcID, requests.NewBoolean(true)
		_, err = a.VPC.DeleteVpc(d)
		wantCode(t, "DeleteVpc DryRun", err, "DryRunOperation", 400)
		if _, err := alice.GetVPC(bg, vpcs[0].VpcID); err != nil {
			t.Fatalf("a dry run deleted the VPC: %v", err)
		}
		d.VpcId = "vpc-unknown"
		_, err = a.VPC.DeleteVpc(d)
		wantCode(t, "DeleteVpc DryRun of an unknown VPC", err, "InvalidVpcId.NotFound", 400)
	})

	t.Run("service made through /v1, MaxResults clamped", func(t *testing.T) {
		svc, err := bob.CreateService(bg, api.CreateServiceRequest{Ports: []int{80}, Resources: []api.BackendSpec{}, AllowedAccounts: nil})
		if err == nil {
			t.Fatalf("a service without backends was accepted: %+v", svc)
		}
		vpcB, err := bob.CreateVPC(bg, api.CreateVPCRequest{Name: "p", CidrBlock: "10.5.0.0/16"})
		must(t, "vpc", err)
		vsw, err := bob.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpcB.VpcID, ZoneID: e.Config().Zones[0], CidrBlock: "10.5.1.0/24"})
		must(t, "vsw", err)
		svc, err = bob.CreateService(bg, api.CreateServiceRequest{VpcID: vpcB.VpcID, Ports: []int{80},
			Resources: []api.BackendSpec{{ZoneID: vsw.ZoneID, IP: "10.5.1.10"}}})
		must(t, "service", err)
		r := privatelink.CreateListVpcEndpointServicesRequest()
		r.MaxResults = requests.NewInteger(500)
		resp, err := b.PL.ListVpcEndpointServices(r)
		must(t, "ListVpcEndpointServices", err)
		strict[privatelink.ListVpcEndpointServicesResponse](t, "ListVpcEndpointServices", resp)
		if resp.MaxResults != 100 || len(resp.Services) != 1 || resp.Services[0].ServiceId != svc.ServiceID || resp.Services[0].ServiceName != svc.Name {
			t.Fatalf("got %+v", resp)
		}
		rr := privatelink.CreateListVpcEndpointServiceResourcesRequest()
		rr.ServiceId = svc.ServiceID
		res, err := b.PL.ListVpcEndpointServiceResources(rr)
		must(t, "ListVpcEndpointServiceResources", err)
		strict[privatelink.ListVpcEndpointServiceResourcesResponse](t, "ListVpcEndpointServiceResources", res)
		if len(res.Resources) != 1 || res.Resources[0].ResourceId != "10.5.1.10:80" || res.Resources[0].VSwitchId != vsw.VSwitchID {
			t.Fatalf("resources: %+v", res.Resources)
		}
		// alice may not see it: not allow-listed.
		g := privatelink.CreateGetVpcEndpointServiceAttributeRequest()
		g.ServiceId = svc.ServiceID
		_, err = a.PL.GetVpcEndpointServiceAttribute(g)
		wantCode(t, "GetVpcEndpointServiceAttribute as alice", err, "EndpointServiceNotFound", 400)
		_ = bobID
	})

	t.Run("unsupported", func(t *testing.T) {
		r := privatelink.CreateAttachResourceToVpcEndpointServiceRequest()
		r.ServiceId, r.ResourceId, r.ResourceType = "epsrv-x", "lb-x", "slb"
		_, err := a.PL.AttachResourceToVpcEndpointService(r)
		wantCode(t, "AttachResourceToVpcEndpointService", err, "OperationUnsupported", 400)
		c := privatelink.CreateCreateVpcEndpointServiceRequest()
		c.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "alb", ResourceId: "alb-x", ZoneId: e.Config().Zones[0]}}
		_, err = a.PL.CreateVpcEndpointService(c)
		se := wantCode(t, "CreateVpcEndpointService with an alb", err, "OperationUnsupported", 400)
		if !strings.Contains(se.Message(), "(nlb") {
			t.Errorf("message does not say what works: %s", se.Message())
		}
		// NotifyResourceAddressFamily, the last action privlink knew but
		// could not honour, is served now (TestSDKDualStack): without its
		// parameters it says which is missing.
		notify := signedPost(t, e, ak.AccessKeyID, ak.AccessKeySecret, time.Now(), map[string]string{"Action": "NotifyResourceAddressFamily", "Version": aliyun.VersionPrivateLink})
		if body := rpcError(t, notify); notify.StatusCode != 400 || body.Code != "MissingParameter" || !strings.Contains(body.Message, "ResourceId") {
			t.Errorf("NotifyResourceAddressFamily without parameters: HTTP %d %+v", notify.StatusCode, body)
		}
		xml := signedPost(t, e, ak.AccessKeyID, ak.AccessKeySecret, time.Now(), map[string]string{"Action": "DescribeRegions", "Version": aliyun.VersionPrivateLink, "Format": "XML"})
		if body := rpcError(t, xml); xml.StatusCode != 400 || body.Code != "OperationUnsupported" {
			t.Errorf("Format=XML: HTTP %d %+v", xml.StatusCode, body)
		}
		resp := signedPost(t, e, ak.AccessKeyID, ak.AccessKeySecret, time.Now(), map[string]string{"Action": "NoSuchAction", "Version": aliyun.VersionPrivateLink})
		if body := rpcError(t, resp); resp.StatusCode != 404 || body.Code != "InvalidAction.NotFound" {
			t.Fatalf("unknown action: HTTP %d %+v", resp.StatusCode, body)
		}
	})
}

type rpcErrorBody struct {
	Code, Message, RequestId, HostId, Recommend string
}

// rpcError decodes an error body strictly: exactly Alibaba's five fields.
func rpcError(t *testing.T, resp *http.Response) rpcErrorBody {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 200 {
		return rpcErrorBody{}
	}
	var b rpcErrorBody
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("error body %s: %v", data, err)
	}
	return b
}

// signedPost signs params with a chosen timestamp (which the SDK does not
// let a caller set) and posts them.
func signedPost(t *testing.T, e *testenv.Env, id, secret string, ts time.Time, p map[string]string) *http.Response {
	t.Helper()
	if p["Format"] == "" {
		p["Format"] = "JSON"
	}
	p["RegionId"], p["SignatureMethod"], p["SignatureVersion"] = region, "HMAC-SHA1", "1.0"
	p["Timestamp"], p["SignatureNonce"], p["AccessKeyId"] = ts.UTC().Format("2006-01-02T15:04:05Z"), time.Now().Format(time.RFC3339Nano), id
	p["Signature"] = aliyun.Sign(aliyun.StringToSign("POST", p), secret)
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	resp, err := http.Post(e.URL()+"/?"+q.Encode(), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
