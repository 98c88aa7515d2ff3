package store

import (
	"fmt"
	"regexp"

	"github.com/privlink/privlink/internal/model"
)

// KindAccessKey: accesskey/<accessKeyId> -> AccessKeyRecord (the Alibaba
// Cloud RPC API's signing keys; the secret is kept: HMAC needs it). Its
// keys are built with ResourceKey and KindPrefix, like the resources'.
const KindAccessKey = "accesskey"

// AccessKeyRecord is stored at accesskey/<accessKeyId>: an AccessKey pair
// of the Alibaba Cloud RPC API (internal/aliyun). The secret is stored as
// is: HMAC-SHA1 verification needs it, and the store is reachable only
// with privlink's client certificate (see docs/alibaba-api.md).
type AccessKeyRecord struct {
	AccessKeyID string `json:"accessKeyId"`
	AccountID   string `json:"accountId"`
	Admin       bool   `json:"admin,omitempty"`
	Secret      string `json:"accessKeySecret"`
	CreateTime  string `json:"createTime"`
}

var (
	accessKeyIDPattern     = regexp.MustCompile(`^[A-Za-z0-9]{16,64}$`)
	accessKeySecretPattern = regexp.MustCompile(`^[A-Za-z0-9]{20,64}$`)
)

// ValidAccessKeyID reports whether s has the shape of an AccessKey ID.
func ValidAccessKeyID(s string) bool { return accessKeyIDPattern.MatchString(s) }

// Validate checks an access key record.
func (r *AccessKeyRecord) Validate() error {
	switch {
	case !ValidAccessKeyID(r.AccessKeyID):
		return fmt.Errorf("access key record: %q is not an AccessKey ID", r.AccessKeyID)
	case !model.ValidAccountID(r.AccountID):
		return fmt.Errorf("access key record: %q is not an account ID", r.AccountID)
	case !accessKeySecretPattern.MatchString(r.Secret):
		return fmt.Errorf("access key record %s: malformed secret", r.AccessKeyID)
	}
	return nil
}
