// Package api holds privlink's REST API contract: every request and response
// body, the error body, the quotas, and the table of operations (method,
// path, wire types, possible errors) from which the server routes, the Go
// client builds its URLs and the OpenAPI document is generated. It is shared
// by the API server, the client, the CLI, the console, the demo, the bench
// and the tests, and depends on nothing but the resource model.
//
// Response resources are the model's types under their API names (api.VPC is
// model.VPC), so callers need only this package.
package api
