// Package scenario builds privlink's canonical PrivateLink topology through
// the API, for the demo, the integration tests and the benchmark alike: a
// provider VPC with vSwitches and backend hosts, an endpoint service
// published from it and allow-listing the consumer, a consumer VPC (whose
// CIDR may overlap the provider's) with vSwitches, a security group and
// hosts, and an interface endpoint.
//
// Everything goes through the typed client (internal/client), as the
// provider's and the consumer's accounts. There are two layers:
//
//   - Builder creates one piece at a time: Network (a VPC with its
//     vSwitches, security group and hosts, on either side), Publish (an
//     endpoint service) and Connect (an endpoint). The benchmark uses it
//     directly for its extra service and its many control-plane VPCs.
//   - Scenario runs a Plan in phases (CreateProvider, CreateService,
//     CreateConsumer, CreateEndpoint, or all of them with Build), so that a
//     caller can act between them: the demo starts its databases in the
//     provider hosts before publishing and approves the connection itself;
//     the benchmark puts its own servers in the hosts. Canonical turns a few
//     Options into the Plan the tests and the demo share.
//
// Each resource created is reported to the optional Builder.Progress
// callback, in order, so the demo can narrate; tests and the benchmark leave
// it nil. The package creates and reports; it does not wait for endpoints to
// become Active or clean anything up (deleting the server's state does).
package scenario
