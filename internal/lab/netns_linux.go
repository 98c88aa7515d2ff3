//go:build linux

package lab

import (
	"fmt"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netns"
)

// CreateNamed creates a fresh network namespace bound at /run/netns/<name>
// (what `ip netns add` does) and returns an open handle to it. The calling
// goroutine's thread is left in its namespace.
func CreateNamed(name string) (netns.NsHandle, error) {
	if err := nsfs.EnsureRunDir(); err != nil {
		return netns.None(), err
	}
	origin, err := nsfs.Current()
	if err != nil {
		return netns.None(), err
	}
	defer origin.Close()
	h, err := nsfs.Create(origin, name)
	if err != nil {
		return h, fmt.Errorf("create netns %s: %w", name, err)
	}
	return h, nil
}
