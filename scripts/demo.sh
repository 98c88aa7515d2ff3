#!/usr/bin/env bash
# The scenario end to end: builds privlink and privlink-sampledb, installs the
# MySQL client if missing, and runs `privlink demo` (netns driver as root,
# loopback driver otherwise). Extra arguments go to `privlink demo`
# (e.g. --keep, -o json).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x /usr/local/go/bin/go ]] && export PATH=/usr/local/go/bin:$PATH
scripts/install-deps.sh demo
go build -o bin/ ./cmd/...
exec bin/privlink demo "$@"
