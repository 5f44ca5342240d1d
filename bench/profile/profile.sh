#!/usr/bin/env bash
# Where the gateway's CPU time goes, under the same load as bench/run.sh (see BENCHMARKS.md).
#
#   bench/profile/profile.sh            perf profile at c=64 and c=1, bucketed by component
#   bench/profile/profile.sh --alloc    also: requests/s with glibc malloc vs jemalloc vs mimalloc
#                                       (LD_PRELOAD of Debian's libjemalloc2 / libmimalloc2.0)
#   PROFILE_CALL_GRAPH=dwarf bench/profile/profile.sh ...   call graphs from DWARF unwinding
#                                       (slower, larger files): attributes libc's malloc and
#                                       memmove, which have no frame pointers, to their callers
#   bench/profile/profile.sh --features every feature on (bench/config/gateway-features.yaml):
#                                       a virtual key with budget and limits, pre_call and
#                                       post_call guardrails on the fake ApplyGuardrail, traces
#                                       to a stand-in OTLP collector (bench.py's Collector)
#
# Builds a profiling copy of the gateway (frame pointers, line tables, symbols) into
# target/profiling with environment overrides only: Cargo.toml is not touched. Needs `perf`
# (Debian: linux-perf). Gateway on CPU 0, fake Bedrock and oha on CPU 1; 127.0.0.1 only; every
# load run is bounded; every process started here is ended on exit.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
cd "$ROOT"
ALLOC=0
FEATURES=0
for arg in "$@"; do
  case "$arg" in
    --alloc) ALLOC=1 ;;
    --features) FEATURES=1 ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
CONFIG="$BENCH/config/gateway.yaml"
[ "$FEATURES" = 1 ] && CONFIG="$BENCH/config/gateway-features.yaml"

OUT="$BENCH/.work/profile-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
# Keep the last two profiles only.
ls -dt "$BENCH"/.work/profile-* 2>/dev/null | tail -n +3 | while read -r old; do rm -rf "$old"; done
OHA="${BENCH_TOOLS_DIR:-$BENCH/.tools}/bin/oha"
[ -x "$OHA" ] || { echo "run bench/run.sh --quick once first (installs oha)" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf missing: apt-get install -y linux-perf" >&2; exit 1; }

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "building the profiling binary (target/profiling)" >&2
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_PROFILE_RELEASE_STRIP=none \
  RUSTFLAGS="-C force-frame-pointers=yes" \
  cargo build --release --quiet -p chat --target-dir "$ROOT/target/profiling"
cargo build --release --quiet -p gateway-tests --bin fake-bedrock

taskset -c 1 "$ROOT/target/release/fake-bedrock" --port 0 > "$OUT/fake.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$OUT/fake.log" && break; sleep 0.05; done
FAKE="$(grep -o 'http://127.0.0.1:[0-9]*' "$OUT/fake.log")"

KEY=sk-bench-master-key
BODY='{"model":"claude-3-sonnet","stream":false,"max_tokens":64,"messages":[{"role":"user","content":"Say hello in five words"}]}'
COLLECTOR_ENV=()
if [ "$FEATURES" = 1 ]; then
  # The stand-in OTLP collector of bench/features.py, in a Python process on CPU 1.
  (cd "$BENCH" && exec taskset -c 1 python3 -c 'import time, bench as b
c = b.Collector(0); print(c.url, flush=True)
while True: time.sleep(60)') > "$OUT/collector.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do grep -q "http://" "$OUT/collector.log" && break; sleep 0.05; done
  COLLECTOR_ENV=(PHOENIX_COLLECTOR_ENDPOINT="$(grep -o 'http://127.0.0.1:[0-9]*' "$OUT/collector.log")")
fi
ENVS=(GATEWAY_CONFIG="$CONFIG" LITELLM_MASTER_KEY=$KEY "${COLLECTOR_ENV[@]}"
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME="$FAKE" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
      AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true RUST_LOG="${RUST_LOG:-info}")

start_gateway() { # binary port [extra env...]
  local bin=$1 port=$2; shift 2
  env "${ENVS[@]}" PORT="$port" "$@" taskset -c 0 "$bin" >> "$OUT/gateway.log" 2>&1 &
  GW=$!
  PIDS+=($GW)
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "gateway did not start" >&2; exit 1
}
AUTH=$KEY
load() { # port concurrency seconds json-out
  taskset -c 1 "$OHA" --no-tui --output-format json -c "$2" -z "${3}s" -m POST -T application/json \
    -d "$BODY" -H "Authorization: Bearer $AUTH" "http://127.0.0.1:$1/v1/chat/completions" > "$4"
}
virtual_key() { # port: a key with a budget and limits that never bind (as bench/features.py)
  curl -sf -X POST "http://127.0.0.1:$1/key/generate" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' \
    -d '{"max_budget":1000000.0,"budget_duration":"30d","rpm_limit":10000000,"tpm_limit":10000000000,"key_alias":"profile"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}
rps() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(d['summary']['requestsPerSec']))" "$1"; }

PORT=48611
start_gateway "$ROOT/target/profiling/release/chat" $PORT
[ "$FEATURES" = 1 ] && AUTH="$(virtual_key $PORT)"
# Past the default keep_records (10,000) so the memory copy of usage records is full (steady state).
load $PORT 64 6 "$OUT/warm.json"
for c in 64 1; do
  load $PORT $c 12 "$OUT/oha-c$c.json" &
  LOADPID=$!
  sleep 1
  perf record -q -F "${PROFILE_HZ:-2999}" --call-graph "${PROFILE_CALL_GRAPH:-fp}" -p "$GW" -o "$OUT/perf-c$c.data" -- sleep 8 2>/dev/null
  wait $LOADPID
  echo
  echo "=== c=$c: $(rps "$OUT/oha-c$c.json") requests/s under perf; CPU of the gateway by component ==="
  perf script -i "$OUT/perf-c$c.data" -F ip,sym 2>/dev/null | python3 "$BENCH/profile/categorize.py" || true
  echo "--- top self-time symbols ---"
  perf report -i "$OUT/perf-c$c.data" --no-children --sort sym --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -15 | cut -c1-150 || true
done
kill "$GW" 2>/dev/null || true

if [ "$ALLOC" = 1 ]; then
  echo
  echo "=== allocator what-if (release binary, LD_PRELOAD, c=64, 3 x 5 s each, median) ==="
  for alloc in glibc jemalloc mimalloc; do
    case $alloc in
      glibc) PRE=() ;;
      jemalloc) PRE=(LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2) ;;
      mimalloc) PRE=(LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2) ;;
    esac
    if [ ${#PRE[@]} -gt 0 ] && [ ! -e "${PRE[0]#LD_PRELOAD=}" ]; then
      echo "$alloc: not installed (apt-get install -y libjemalloc2 libmimalloc2.0)"; continue
    fi
    PORT=$((PORT + 1))
    start_gateway "$ROOT/target/release/chat" $PORT "${PRE[@]}"
    [ "$FEATURES" = 1 ] && AUTH="$(virtual_key $PORT)"
    load $PORT 64 2 "$OUT/alloc-warm.json"
    R=()
    for i in 1 2 3; do load $PORT 64 5 "$OUT/alloc-$alloc-$i.json"; R+=("$(rps "$OUT/alloc-$alloc-$i.json")"); done
    HWM=$(awk '/VmHWM/ {print $2}' "/proc/$GW/status")
    kill "$GW"; wait "$GW" 2>/dev/null || true
    printf '%-9s requests/s %s (rounds %s), peak RSS %s kB\n' "$alloc" \
      "$(printf '%s\n' "${R[@]}" | sort -n | sed -n 2p)" "${R[*]}" "$HWM"
  done
fi
echo
echo "perf data and logs: $OUT"
