package api_test

import (
	"testing"

	"github.com/privlink/privlink/internal/api"
)

func TestExpand(t *testing.T) {
	cases := []struct {
		id   string
		args []string
		want string
		bad  bool
	}{
		{api.OpListVPCs, nil, "/v1/vpcs", false},
		{api.OpGetVPC, []string{"vpc-1"}, "/v1/vpcs/vpc-1", false},
		{api.OpGetService, []string{"com.privlink.cn-hangzhou.epsrv-x"}, "/v1/services/com.privlink.cn-hangzhou.epsrv-x", false},
		{api.OpAcceptConnection, []string{"epsrv-1", "ep-1"}, "/v1/services/epsrv-1/connections/ep-1/accept", false},
		{api.OpGetVPC, []string{"a/b?c"}, "/v1/vpcs/a%2Fb%3Fc", false},
		{api.OpGetVPC, []string{"."}, "/v1/vpcs/%2E", false},
		{api.OpGetVPC, []string{".."}, "/v1/vpcs/%2E%2E", false},
		{api.OpGetVPC, nil, "", true},
		{api.OpListVPCs, []string{"x"}, "", true},
	}
	for _, tc := range cases {
		op, ok := api.Lookup(tc.id)
		if !ok {
			t.Fatalf("no operation %s", tc.id)
		}
		got, err := op.Expand(tc.args...)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%s%q: got %q, %v; want %q (error %v)", tc.id, tc.args, got, err, tc.want, tc.bad)
		}
	}
}

// TestOperationsUnique: IDs and method+path pairs are unique.
func TestOperationsUnique(t *testing.T) {
	ids, routes := map[string]bool{}, map[string]bool{}
	for _, op := range api.Operations {
		if ids[op.ID] || routes[op.Method+" "+op.Path] {
			t.Errorf("duplicate operation %s (%s %s)", op.ID, op.Method, op.Path)
		}
		ids[op.ID], routes[op.Method+" "+op.Path] = true, true
	}
}
