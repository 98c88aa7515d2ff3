package aliyun_test

import (
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
)

// BenchmarkDescribeVpcs compares one read through the RPC API (the SDK,
// signed, translated in-process to /v1) with the same read through /v1
// (the typed client), against one loopback server. Figures in
// docs/alibaba-api.md; not a timed test.
func BenchmarkDescribeVpcs(b *testing.B) {
	e := testenv.Start(b, testenv.Options{Network: "loopback"})
	c, _ := e.Account(b, "bench")
	if _, err := c.CreateVPC(bg, api.CreateVPCRequest{Name: "v", CidrBlock: "10.0.0.0/16"}); err != nil {
		b.Fatal(err)
	}
	k, err := c.CreateAccessKey(bg)
	if err != nil {
		b.Fatal(err)
	}
	sdk := akClients(b, e, k.AccessKeyID, k.AccessKeySecret)
	b.Run("rpc-sdk", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := sdk.VPC.DescribeVpcs(vpc.CreateDescribeVpcsRequest()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("v1-client", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := c.ListVPCs(bg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
