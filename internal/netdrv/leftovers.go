package netdrv

import (
	"os"
	"path/filepath"
	"strings"
)

// Leftovers lists the named namespaces (/run/netns) and /etc/netns entries
// whose names start with "<prefix>-": what a cleanup left behind.
func Leftovers(prefix string) []string {
	var out []string
	for _, dir := range []string{"/run/netns", "/etc/netns"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix+"-") {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	return out
}
