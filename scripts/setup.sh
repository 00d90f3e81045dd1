#!/usr/bin/env bash
# Installs everything the example and the tests need on a fresh Debian 12 machine (run as root), then
# builds the workspace. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.4.2   # keep in step with "packageManager" in package.json
# Node comes from the machine (Debian 12's own nodejs is 18, too old): say so before anything is installed.
if ! node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null; then
  echo "setup: needs Node 20 or later with npm on PATH (found: $(node --version 2>/dev/null || echo none)); install it, e.g. from nodejs.org or NodeSource, and run again" >&2
  exit 69
fi
# Debian packages: real peers for the tests and the example.
#   haproxy          HAProxy 2.6, pointed at the wrapper's health port
#   python3-waitress the server Plone 6 runs on, for the sample instance
#   postgresql-15    a real PostgreSQL for the database checks
#   wrk              load for the benchmarks
#   util-linux       unshare/nsenter for the disposable systemd
#   openssh-*        sshd inside the disposable systemd boxes that stand in for hosts; `systemctl -H` needs ssh
APT_PACKAGES=(haproxy python3-waitress postgresql-15 wrk util-linux iproute2 systemd openssh-server openssh-client)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d: do not let the packages start their services (haproxy, postgresql) on the host.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
  # sshd runs only inside the test boxes (each with its own config and address). The package enables ssh.service
  # on this machine: a later boot must not start an sshd listening on every address.
  if [[ " ${missing[*]} " == *" openssh-server "* ]]; then
    touch /etc/ssh/sshd_not_to_be_run
    systemctl disable --quiet ssh.service ssh.socket 2>/dev/null || true
  fi
fi

if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
fi
# Node 22 and 24 beside the default Node: the library's tests also run under them (test/node-versions.test.ts).
# The npm packages node@22 / node@24 carry the official binaries; they go into the repository's ignored
# .cache/, so the Node on PATH stays as it is.
for major in 22 24; do
  dir=".cache/node/$major"
  if [ ! -x "$dir/node_modules/node/bin/node" ]; then
    echo "setup: installing node@$major into $dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node@$major" >/dev/null
  fi
done

pnpm install --frozen-lockfile --reporter=silent
pnpm run --silent build
echo "setup: ready"
