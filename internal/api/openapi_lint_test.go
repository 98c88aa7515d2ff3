package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
)

// TestOpenAPILint runs the ecosystem's linter, @redocly/cli with its
// recommended rules, on the generated document and wants no error and no
// warning. The pinned version (testdata/redocly-cli.version) is installed
// once into the user cache dir, as scripts/install-deps.sh does.
func TestOpenAPILint(t *testing.T) {
	bin := redocly(t)
	doc, err := json.MarshalIndent(api.OpenAPI(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lint", "--extends=recommended", "--format=json", path)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res struct {
		Totals struct {
			Errors, Warnings int
		}
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string
			Message  string
			Location []struct{ Pointer string }
		}
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("redocly lint: %v (exit %v)\nstdout: %s\nstderr: %s", jerr, err, out, stderr.String())
	}
	for _, p := range res.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if res.Totals.Errors+res.Totals.Warnings > 0 {
		t.Errorf("redocly lint: %d errors, %d warnings", res.Totals.Errors, res.Totals.Warnings)
	}
}

// redocly returns the pinned redocly binary, installing it with npm when
// missing. Without npm the test skips, except as root (as CI runs), where
// scripts/install-deps.sh should have installed it.
func redocly(t *testing.T) string {
	t.Helper()
	v, err := os.ReadFile("testdata/redocly-cli.version")
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(v))
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no cache dir for @redocly/cli: %v", err)
	}
	dir := filepath.Join(cache, "privlink", "redocly-cli-"+version)
	bin := filepath.Join(dir, "node_modules", ".bin", "redocly")
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "node is not installed")
	}
	if _, err := os.Stat(bin); err == nil {
		return bin
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		missing(t, "npm is not installed")
	}
	t.Logf("installing @redocly/cli@%s into %s", version, dir)
	cmd := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "@redocly/cli@"+version)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install @redocly/cli@%s: %v\n%s", version, err, out)
	}
	return bin
}

func missing(t *testing.T, what string) {
	t.Helper()
	msg := what + "; scripts/install-deps.sh installs nodejs, npm and the pinned @redocly/cli for the OpenAPI lint"
	if os.Geteuid() == 0 {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
