#!/usr/bin/env bash
# The supply-chain check: cargo-deny (installed once per machine by bootstrap-cargo-deny.sh) on
# deny.toml's licences, bans and sources. Advisories need the RustSec advisory database, which is
# fetched from its git repository and is not distributed through any package registry: set
# CARGO_DENY_ADVISORIES=1 where that repository can be reached to check them too.
set -euo pipefail
cd "$(dirname "$0")/.."
deny=$(scripts/bootstrap-cargo-deny.sh)
checks=(licenses bans sources)
if [ "${CARGO_DENY_ADVISORIES:-0}" = 1 ]; then
  checks+=(advisories)
fi
"$deny" --log-level error check "${checks[@]}"
