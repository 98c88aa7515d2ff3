// Package aliyun serves the Alibaba Cloud RPC API at "/" on the API
// listener, so the official SDK (github.com/aliyun/alibaba-cloud-sdk-go:
// services/privatelink, services/vpc, services/ecs) works against privlink
// by changing only its endpoint and keys.
//
// A request is POST /?Action=...&Version=... with the parameters in the
// query string and an urlencoded form, merged; lists are flattened
// (Zone.1.VSwitchId). It is authenticated by an AccessKey signature
// (HMAC-SHA1, SignatureVersion 1.0) or a privlink bearer token
// (SignatureType=BEARERTOKEN), within ±15 minutes of its Timestamp and
// once per SignatureNonce. Each action is translated into the operations
// of the REST API (internal/api), executed in-process through the typed
// client as the caller's account, so the model, the transactions and the
// permissions are those of /v1; the answers are translated into Alibaba's
// PascalCase bodies with the SDK's JSON types, errors into
// {"Code","Message","RequestId","HostId","Recommend"}. Actions privlink
// cannot honour answer OperationUnsupported. docs/alibaba-api.md lists
// every action and its status.
package aliyun
