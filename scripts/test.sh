#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need on a
# fresh Debian machine (Debian packages, Go modules), builds everything, then
# runs every package's tests. Run as root so the network-namespace, DNS,
# MySQL-client and browser tests run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x /usr/local/go/bin/go ]] && export PATH=/usr/local/go/bin:$PATH
scripts/install-deps.sh test
go vet ./...
go build -o bin/ ./cmd/...
go test -count=1 -timeout 60m "$@" ./...
