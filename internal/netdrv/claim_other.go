//go:build !linux

package netdrv

import "errors"

// PrefixClaim is a hold on a namespace prefix (Linux only).
type PrefixClaim struct{}

// ErrPrefixHeld: see the Linux version.
var ErrPrefixHeld = errors.New("netns prefix held by another privlink deployment")

// ClaimPrefix needs Linux (the netns driver does).
func ClaimPrefix(prefix, deployment string) (*PrefixClaim, string, error) {
	return nil, "", errors.New("netdrv: network namespaces need Linux")
}

// Release does nothing.
func (c *PrefixClaim) Release() {}
