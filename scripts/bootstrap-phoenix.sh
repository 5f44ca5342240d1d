#!/usr/bin/env bash
# Creates the Arize Phoenix venv outside the clone (~850 MB), keyed by its requirements hash;
# prints the venv path. A second run with the same requirements only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/phoenix/requirements.txt
hash=$(sha256sum "$req" | cut -c1-12)
venv="${PHOENIX_VENV:-$HOME/.cache/llm-gateway/phoenix-venv-$hash}"
if [ -x "$venv/bin/phoenix" ] && [ -f "$venv/.ready" ]; then
  echo "$venv"
  exit 0
fi
mkdir -p "$(dirname "$venv")"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
touch "$venv/.ready"
echo "$venv"
