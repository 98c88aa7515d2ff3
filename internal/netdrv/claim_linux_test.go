//go:build linux

package netdrv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClaimPrefix: processes of one deployment share a prefix, another
// deployment is refused with the holder's pid, whatever the deployment ID
// looks like (a corrupted store record included); the last release
// removes the files and frees the prefix.
func TestClaimPrefix(t *testing.T) {
	needRoot(t)
	prefix := "pltest" + randB32(6)
	files := []string{filepath.Join(ClaimDir, "netns-"+prefix+".lock"), filepath.Join(ClaimDir, "netns-"+prefix+".owner")}
	t.Cleanup(func() {
		for _, f := range files {
			os.Remove(f)
		}
	})
	for _, ids := range [][2]string{
		{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"},
		{"\x00\xff\xfe not json at all\n", strings.Repeat("x", 5000)},
	} {
		a, prev, err := ClaimPrefix(prefix, ids[0])
		if err != nil || prev != "" {
			t.Fatalf("first claim: %v (previous %q)", err, prev)
		}
		b, _, err := ClaimPrefix(prefix, ids[0]) // the same deployment's agent
		if err != nil {
			t.Fatalf("same deployment: %v", err)
		}
		if _, _, err := ClaimPrefix(prefix, ids[1]); !errors.Is(err, ErrPrefixHeld) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
			t.Fatalf("another deployment: %v", err)
		}
		a.Release()
		if _, _, err := ClaimPrefix(prefix, ids[1]); !errors.Is(err, ErrPrefixHeld) {
			t.Fatalf("another deployment while one holder is left: %v", err)
		}
		b.Release()
		for _, f := range files {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Errorf("%s after the last release: %v", f, err)
			}
		}
		c, _, err := ClaimPrefix(prefix, ids[1])
		if err != nil {
			t.Fatalf("another deployment once the prefix is free: %v", err)
		}
		c.Release()
	}
}
