package apiserver_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestOpenAPICoversRoutes fetches /v1/openapi.json and checks that every
// route is documented, every documented operation is served, and the
// document references only schemas it defines.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := startLoopback(t)
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := e.Admin.Do(bg, http.MethodGet, "/v1/openapi.json", nil, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	routes := map[string]bool{}
	for _, r := range e.API.Routes() {
		routes[strings.ToLower(r[0])+" "+r[1]] = true
		if doc.Paths[r[1]][strings.ToLower(r[0])] == nil {
			t.Errorf("route %s %s missing from openapi.json", r[0], r[1])
		}
	}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			if !routes[m+" "+p] {
				t.Errorf("openapi.json documents %s %s which is not served", m, p)
			}
			if op["operationId"] == "" {
				t.Errorf("%s %s has no operationId", m, p)
			}
		}
	}
	// Every documented route answers something other than the catch-all 404.
	for _, r := range e.API.Routes() {
		path := strings.NewReplacer("{id}", "x", "{endpoint}", "x", "{account}", "x").Replace(r[1])
		err := e.Admin.Do(bg, r[0], path, map[string]any{}, nil)
		if err != nil && strings.Contains(err.Error(), "InvalidAction.NotFound") {
			t.Errorf("%s %s is documented but not routed", r[0], r[1])
		}
	}
}
