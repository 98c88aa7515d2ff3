//go:build !linux

package demo

import (
	"context"
	"errors"
)

// RunNodes needs Linux network namespaces.
func RunNodes(ctx context.Context, o NodesOptions) (*Summary, error) {
	return nil, errors.New("demo: --nodes needs Linux network namespaces")
}
