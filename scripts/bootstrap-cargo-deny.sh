#!/usr/bin/env bash
# Installs (once per machine) cargo-deny, the supply-chain check (deny.toml: licences, bans,
# sources), with `cargo install --locked` from crates.io into ~/.cache/llm-gateway/cargo-deny-<version>,
# and prints the binary's path. A second run only checks. CARGO_DENY_ROOT moves the cache.
# A fresh install compiles about 420 crates and links with fat LTO (cargo-deny's release profile):
# measured 3 min 50 s of CPU, 37 min wall at nice 15 on two cores shared with six other builds.
set -euo pipefail
version=0.20.2
root="${CARGO_DENY_ROOT:-$HOME/.cache/llm-gateway}/cargo-deny-$version"
bin="$root/bin/cargo-deny"
if [ ! -x "$bin" ] || [ ! -f "$root/.complete" ]; then
  mkdir -p "$root"
  started=$(date +%s)
  # Its own target dir, so the project's target/ is not touched.
  CARGO_TARGET_DIR="$root/build" cargo install --quiet --locked cargo-deny \
    --version "$version" --root "$root" >&2
  rm -rf "$root/build"
  touch "$root/.complete"
  echo "cargo-deny $version installed in $(( $(date +%s) - started )) s" >&2
fi
echo "$bin"
