package api

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// errorDescriptions document each error status an operation may answer.
var errorDescriptions = map[int]string{
	400: "Invalid request: a parameter, the body or a quota (code InvalidParameter.*, MissingParameter.*, QuotaExceeded.*, DependencyViolation.*, ...)",
	401: "Missing or unknown bearer token (code InvalidToken.*)",
	403: "The caller may not do this (code Forbidden.*, OperationDenied.*)",
	404: "A resource does not exist or belongs to another account (code *NotFound)",
	409: "A concurrent change or a taken address; retry or choose another (code Conflict.Concurrent, InvalidIpAddress.AlreadyUsed, ...)",
	413: "The request body exceeds 1 MiB (code InvalidParameter.BodyTooLarge)",
	500: "The request failed on the server; nothing was changed (code InternalError)",
	503: "The control plane's store did not answer in time (code ControlPlaneUnavailable); retry later",
	507: "The control plane's store is full: etcd's NOSPACE alarm (code ControlPlaneFull); nothing was written, reads and deletes work; the operator must compact, defragment and disarm",
}

// The document's license. The repository has no LICENSE file yet, so the
// API is documented as not licensed for reuse; change this when it gets one.
const (
	license    = "UNLICENSED"
	licenseURL = "https://github.com/privlink/privlink"
)

// OpenAPI builds the OpenAPI 3 document of Operations: paths, parameters,
// request and response schemas from the wire types, and every error status
// with the Error schema. The server is the one that serves the document.
func OpenAPI() map[string]any {
	schemas := map[string]any{}
	paths := map[string]map[string]any{}
	errRef := schemaRef(reflect.TypeOf(Error{}), schemas)
	responses := map[string]any{}
	for status, desc := range errorDescriptions {
		responses[errorName(status)] = map[string]any{"description": desc, "content": jsonContent(errRef)}
	}
	for _, op := range Operations {
		res := map[string]any{"200": map[string]any{"description": "OK", "content": jsonContent(responseSchema(op, schemas))}}
		for _, st := range append(append([]int{401}, op.Errors...), 500, 503, 507) {
			res[strconv.Itoa(st)] = map[string]any{"$ref": "#/components/responses/" + errorName(st)}
		}
		o := map[string]any{
			"operationId": op.ID,
			"summary":     op.Summary,
			"tags":        []any{tag(op.Path)},
			"security":    []any{map[string]any{"bearer": []any{}}},
			"responses":   res,
		}
		if params := parameters(op); params != nil {
			o["parameters"] = params
		}
		if op.Request != nil {
			o["requestBody"] = map[string]any{"required": true, "content": jsonContent(schemaRef(reflect.TypeOf(op.Request), schemas))}
		}
		if paths[op.Path] == nil {
			paths[op.Path] = map[string]any{}
		}
		paths[op.Path][strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "privlink API",
			"version":     "v1",
			"description": "Self-hosted PrivateLink: endpoint services, interface endpoints and the VPC resources around them.",
			"license":     map[string]any{"name": license, "url": licenseURL},
		},
		"servers": []any{map[string]any{"url": "/", "description": "the privlink server that serves this document (privlink server --listen)"}},
		"tags":    tags(),
		"paths":   paths,
		"components": map[string]any{
			"schemas":         schemas,
			"responses":       responses,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
}

// responseSchema is the 200 body: the response type, or a DryRunResult
// when the request has a dryRun flag.
func responseSchema(op Operation, schemas map[string]any) map[string]any {
	ref := schemaRef(reflect.TypeOf(op.Response), schemas)
	if op.Request == nil {
		return ref
	}
	if _, dry := reflect.TypeOf(op.Request).FieldByName("DryRun"); !dry {
		return ref
	}
	return map[string]any{"oneOf": []any{ref, schemaRef(reflect.TypeOf(DryRunResult{}), schemas)}}
}

func errorName(status int) string { return "Error" + strconv.Itoa(status) }

// parameters are the path parameters, and paging and filters of a list.
func parameters(op Operation) []any {
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(op.Path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	if op.Method == "GET" && strings.HasPrefix(op.ID, "List") {
		params = append(params,
			map[string]any{"name": "maxResults", "in": "query", "description": "page size, 1 to 100 (default 50)", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": MaxPageSize}},
			map[string]any{"name": "nextToken", "in": "query", "description": "the nextToken of the previous page", "schema": map[string]any{"type": "string"}})
		for _, q := range op.Filters {
			params = append(params, map[string]any{"name": q, "in": "query", "description": "only items with this " + q, "schema": map[string]any{"type": "string"}})
		}
		if op.ID == OpListEvents {
			params = append(params,
				map[string]any{"name": ParamFollow, "in": "query", "description": "true: answer a text/event-stream of the events (Server-Sent Events, id: the event ID), live until the client goes", "schema": map[string]any{"type": "boolean"}},
				map[string]any{"name": "Last-Event-ID", "in": "header", "description": "with follow=true: start after this event ID (a reconnecting client sends the last id: it saw)", "schema": map[string]any{"type": "string"}})
		}
	}
	return params
}

// tagDescriptions group the operations by the collection they act on.
var tagDescriptions = []struct{ name, desc string }{
	{"accounts", "Accounts and their tokens"},
	{"access-keys", "AccessKey pairs for the Alibaba Cloud RPC API at /"},
	{"region", "The deployment's region and zones"},
	{"vpcs", "VPCs"},
	{"vswitches", "vSwitches: a VPC's subnets, one zone each"},
	{"security-groups", "Security groups guarding endpoint ENIs"},
	{"hosts", "ECS-like hosts on a vSwitch"},
	{"services", "Endpoint services, their allow-lists and connections (provider side)"},
	{"endpoints", "Interface endpoints (consumer side)"},
	{"notifications", "Webhook subscriptions to events"},
	{"events", "Events: state changes concerning your services and endpoints"},
}

// tag is the collection of a path: /v1/vpcs/{id} -> vpcs.
func tag(path string) string {
	seg := strings.Split(strings.TrimPrefix(path, "/v1/"), "/")[0]
	switch seg {
	case "whoami":
		return "accounts"
	case "service-search":
		return "services"
	}
	return seg
}

func tags() []any {
	out := make([]any, 0, len(tagDescriptions))
	for _, t := range tagDescriptions {
		out = append(out, map[string]any{"name": t.name, "description": t.desc})
	}
	return out
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
