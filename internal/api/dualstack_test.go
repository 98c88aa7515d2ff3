package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
)

// TestOpenAPIDualStack: the OpenAPI document has the dual-stack fields:
// a service's addressIpVersion (create, update, read), an endpoint zone's
// ipv6Address (request and read).
func TestOpenAPIDualStack(t *testing.T) {
	doc := api.OpenAPI()
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for schema, field := range map[string]string{
		"CreateServiceRequest": "addressIpVersion",
		"UpdateServiceRequest": "addressIpVersion",
		"EndpointService":      "addressIpVersion",
		"EndpointZoneRequest":  "ipv6Address",
		"EndpointZone":         "ipv6Address",
	} {
		s, ok := schemas[schema]
		if !ok {
			t.Errorf("no schema %s", schema)
			continue
		}
		b, _ := json.Marshal(s)
		if !strings.Contains(string(b), `"`+field+`"`) {
			t.Errorf("schema %s lacks %s: %s", schema, field, b)
		}
	}
}
