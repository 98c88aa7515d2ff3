// Package console is privlink's web console, mounted at /console/ by
// `privlink server`: server-rendered html/template pages for providers
// (endpoint services, allow-lists, connection approval, the
// "Connect > PrivateLink" panel) and consumers (VPCs, vSwitches, security
// groups, endpoints), with a little progressive JavaScript (copy buttons,
// the create-endpoint form's VPC filter, status polling). Every asset is
// embedded; the console works offline and loads nothing from elsewhere.
//
// The console holds no privileges of its own: it calls the REST API
// in-process (API.ServeHTTP) with the bearer token of the logged-in account,
// which it keeps server-side in a memory session. See README.md.
package console
