// Package internal_test enforces the import rules that keep the control
// plane one way in (docs/architecture.md, "Packages"): only internal/store
// talks to etcd, and only the process assembly (internal/server) builds the
// API server; everyone else goes through internal/client and internal/api.
package internal_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/privlink/privlink/"

// rules: a package path prefix that may be imported only by the listed
// packages (their tests included).
var rules = []struct {
	imported string
	only     []string
}{
	{"go.etcd.io/etcd/", []string{module + "internal/store"}},
	{module + "internal/apiserver", []string{module + "internal/server", module + "internal/apiserver"}},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
			for _, r := range rules {
				if strings.HasPrefix(imp, r.imported) && !allowed(p.ImportPath, r.only) {
					t.Errorf("%s imports %s; only %v may", p.ImportPath, imp, r.only)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("go list saw only %d packages", n)
	}
}

func allowed(pkg string, only []string) bool {
	for _, o := range only {
		if pkg == o {
			return true
		}
	}
	return false
}
