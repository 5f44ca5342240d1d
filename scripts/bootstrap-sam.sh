#!/usr/bin/env bash
# Creates (once per machine) the venv with the template tools: aws-sam-cli, cfn-lint and
# cargo-lambda, outside the clone in ~/.cache/llm-gateway/sam-venv-<requirements hash>, and prints
# its path. A second run only checks. SAM_VENV_ROOT moves the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
req=deploy/requirements.txt
hash=$(sha256sum "$req" | cut -c1-12)
root="${SAM_VENV_ROOT:-$HOME/.cache/llm-gateway}"
venv="$root/sam-venv-$hash"
if [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/cfn-lint" ] || [ ! -f "$venv/.complete" ]; then
  # A venv cannot be moved (its scripts name their interpreter's path): install in place and
  # mark it complete last, so an interrupted install is started again rather than trusted.
  mkdir -p "$root"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  touch "$venv/.complete"
fi
echo "$venv"
