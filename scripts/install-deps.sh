#!/usr/bin/env bash
# Installs the Debian packages that privlink's demo, tests and benchmarks use,
# and the Go modules. Idempotent: installs only what is missing.
#   scripts/install-deps.sh            # everything the tests need
#   scripts/install-deps.sh demo       # just what the demo needs
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-test}" in
demo) pkgs=(iproute2 mariadb-client bind9-dnsutils) ;;
*) pkgs=(iproute2 nftables mariadb-client bind9-dnsutils chromium haproxy nginx libnginx-mod-stream iperf3 procps prometheus etcd-server) ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The OpenAPI lint test runs @redocly/cli on Node; a Node from elsewhere
# (e.g. NodeSource, which bundles npm) is fine.
if [[ ${1:-test} != demo ]]; then
	command -v node >/dev/null || missing+=(nodejs)
	command -v npm >/dev/null || missing+=(npm)
fi
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: not root; cannot install ${missing[*]} (tests that need them will skip)" >&2
	else
		echo "install-deps: installing ${missing[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		# The tests run nginx, HAProxy, Prometheus and etcd themselves: keep
		# the packages from starting system services (policy-rc.d, 101 = refuse)...
		policy=/usr/sbin/policy-rc.d
		if [[ ! -e $policy ]]; then
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
			trap 'rm -f "$policy"' EXIT
		fi
		apt-get update -qq
		apt-get install -y -qq "${missing[@]}" >/dev/null
		# ...nor at the next boot: etcd would take privlink's port 2379,
		# nginx port 80. Only the services of packages installed now.
		if [[ -d /run/systemd/system ]]; then
			for pair in nginx:nginx haproxy:haproxy prometheus:prometheus prometheus:prometheus-node-exporter etcd-server:etcd; do
				[[ " ${missing[*]} " == *" ${pair%%:*} "* ]] && systemctl disable --now --quiet "${pair#*:}" 2>/dev/null || true
			done
		fi
	fi
fi

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH=/usr/local/go/bin:$PATH
fi
command -v go >/dev/null || { echo "install-deps: Go 1.26 is required (https://go.dev/dl)" >&2; exit 1; }
go mod download

# The pinned @redocly/cli for the OpenAPI lint test (internal/api), in the
# cache dir the test looks in.
if [[ ${1:-test} != demo ]] && command -v npm >/dev/null; then
	redocly_version=$(<internal/api/testdata/redocly-cli.version)
	redocly_dir=${XDG_CACHE_HOME:-$HOME/.cache}/privlink/redocly-cli-$redocly_version
	if [[ ! -x $redocly_dir/node_modules/.bin/redocly ]]; then
		echo "install-deps: installing @redocly/cli@$redocly_version into $redocly_dir" >&2
		npm install --prefix "$redocly_dir" --no-audit --no-fund --loglevel=error "@redocly/cli@$redocly_version" >/dev/null
	fi
fi
