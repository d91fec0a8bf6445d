#!/usr/bin/env bash
# The whole AutoTLS test suite, from a fresh clone: `npm test`.
#
# 1. Installs the Debian packages the testbed needs (bind9, dnsutils, postgresql,
#    unbound, prometheus for promtool, pdns-server + pdns-backend-sqlite3 + sqlite3
#    for the PowerDNS plugin, knot for the RFC 2136 plugin's second server; pebble
#    only as a fallback) when they are
#    missing; this needs root, as on CI. The suite's
#    CA is Pebble 2.7.0 from ../shared/pebble/pebble (ARI and profiles); without
#    it, Debian's Pebble 2.4.0 stands in and the tests that need ARI or profiles
#    are skipped (global setup names them).
# 2. Installs the npm dependencies when node_modules is missing.
# 3. Typecheck, lint, and the generated-docs check.
# 4. vitest: unit tests, then integration/e2e tests against the testbed that
#    test/testbed/global-setup.ts starts on loopback (BIND9, Pebble, PostgreSQL,
#    moto_server) and stops again, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
shared_pebble="$(cd .. && pwd)/shared/pebble/pebble"
if [ -x "$shared_pebble" ]; then
  echo "CA: Pebble 2.7.0 from $shared_pebble"
else
  echo "CA: $shared_pebble not found; Debian's Pebble 2.4.0 stands in (no ARI, no profiles: those tests are skipped)"
  command -v pebble >/dev/null 2>&1 || [ -x /usr/bin/pebble ] || need+=(pebble)
fi
command -v named >/dev/null 2>&1 || [ -x /usr/sbin/named ] || need+=(bind9)
command -v nsupdate >/dev/null 2>&1 || need+=(bind9-dnsutils)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v unbound >/dev/null 2>&1 || [ -x /usr/sbin/unbound ] || need+=(unbound)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v pdns_server >/dev/null 2>&1 || [ -x /usr/sbin/pdns_server ] || need+=(pdns-server)
[ -e /usr/lib/x86_64-linux-gnu/pdns/libgsqlite3backend.so ] || ls /usr/lib/*/pdns/libgsqlite3backend.so >/dev/null 2>&1 || need+=(pdns-backend-sqlite3)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v knotd >/dev/null 2>&1 || [ -x /usr/sbin/knotd ] || need+=(knot)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "The test suite needs these Debian packages: ${need[*]}. Install them: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "Installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The Debian packages start system services we do not use; the suite starts its own.
systemctl stop named postgresql unbound prometheus pdns knot >/dev/null 2>&1 || true

command -v moto_server >/dev/null 2>&1 || { echo "moto_server not found: pip install 'moto[server]==5.2.1'" >&2; exit 1; }

if [ ! -d node_modules ]; then
  npm ci
fi

export PATH="/usr/sbin:$PATH"
npm run --silent typecheck
npm run --silent lint
node --import tsx scripts/gen-config-docs.ts --check
node --import tsx scripts/gen-openapi.ts --check

mkdir -p tmp
status=0
npx vitest run --reporter=default --reporter=json --outputFile=tmp/vitest.json || status=$?
node -e '
const r = require("./tmp/vitest.json");
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + (r.numTodoTests ?? 0)} skipped`);
' || true
exit $status
