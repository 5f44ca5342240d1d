#!/usr/bin/env bash
# Starts Arize Phoenix on 127.0.0.1 (a free port, a temporary working dir), waits for
# /healthz, then prints `<base url> <pid>`. The caller stops it with `kill <pid>`.
# The venv comes from scripts/bootstrap-phoenix.sh (cached outside the clone). With
# PHOENIX_STOP_WITH_PID set, Phoenix is also stopped when that process exits (test binaries).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/bootstrap-phoenix.sh)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
grpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
dir=$(mktemp -d "${TMPDIR:-/tmp}/phoenix.XXXXXX")
PHOENIX_WORKING_DIR="$dir" PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" PHOENIX_GRPC_PORT="$grpc" \
  PHOENIX_TELEMETRY_ENABLED=false \
  setsid "$venv/bin/phoenix" serve >"$dir/phoenix.log" 2>&1 < /dev/null &
pid=$!
if [ -n "${PHOENIX_STOP_WITH_PID:-}" ]; then
  watched=$PHOENIX_STOP_WITH_PID
  setsid bash -c "while kill -0 $watched 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; kill $pid 2>/dev/null; rm -rf '$dir'" >/dev/null 2>&1 < /dev/null &
fi
for _ in $(seq 1 180); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "http://127.0.0.1:$port $pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "phoenix exited; log:" >&2
    tail -40 "$dir/phoenix.log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "phoenix did not become ready; log:" >&2
tail -40 "$dir/phoenix.log" >&2
kill "$pid" 2>/dev/null || true
exit 1
