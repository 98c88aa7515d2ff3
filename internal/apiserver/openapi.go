package apiserver

import (
	"net/http"
	"reflect"
	"regexp"
	"strings"
)

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// listFilters are the query filters each list operation honours.
var listFilters = map[string][]string{
	"ListVSwitches":                 {"vpcId"},
	"ListSecurityGroups":            {"vpcId"},
	"ListHosts":                     {"vpcId"},
	"ListVpcEndpoints":              {"vpcId", "serviceId"},
	"ListVpcEndpointServicesByUser": {"serviceName"},
}

// OpenAPI builds the OpenAPI 3 document from the route table, so the
// document and the routes cannot drift apart.
func (a *API) OpenAPI() map[string]any {
	schemas := map[string]any{}
	paths := map[string]map[string]any{}
	for _, rt := range a.routes() {
		op := map[string]any{
			"operationId": rt.OperationID,
			"summary":     rt.Summary,
			"security":    []any{map[string]any{"bearer": []any{}}},
			"responses": map[string]any{
				"200":     map[string]any{"description": "OK", "content": jsonContent(schemaRef(reflect.TypeOf(rt.Response), schemas))},
				"default": map[string]any{"description": "Error", "content": jsonContent(schemaRef(reflect.TypeOf(ErrorBody{}), schemas))},
			},
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if rt.Method == http.MethodGet && strings.HasPrefix(rt.OperationID, "List") {
			for _, q := range append([]string{"maxResults", "nextToken"}, listFilters[rt.OperationID]...) {
				params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
			}
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": jsonContent(schemaRef(reflect.TypeOf(rt.Body), schemas))}
		}
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "privlink API", "version": "v1", "description": "Self-hosted PrivateLink: endpoint services, interface endpoints and the VPC resources around them."},
		"paths":   paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
}

func (a *API) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.OpenAPI())
}

func jsonContent(schema any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

func schemaName(t reflect.Type) string {
	n := t.Name()
	if i := strings.IndexByte(n, '['); i >= 0 {
		inner := n[i+1 : len(n)-1]
		inner = inner[strings.LastIndexByte(inner, '.')+1:]
		n = n[:i] + inner
	}
	return n
}

// schemaRef returns a schema for t, registering named structs in schemas.
func schemaRef(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaRef(t.Elem(), schemas)}
	case reflect.Map, reflect.Interface:
		return map[string]any{"type": "object"}
	case reflect.Struct:
		name := schemaName(t)
		if _, ok := schemas[name]; !ok {
			schemas[name] = map[string]any{} // break cycles
			props := map[string]any{}
			addFields(t, props, schemas)
			schemas[name] = map[string]any{"type": "object", "properties": props}
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func addFields(t reflect.Type, props map[string]any, schemas map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			addFields(f.Type, props, schemas)
			continue
		}
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		props[tag] = schemaRef(f.Type, schemas)
	}
}
