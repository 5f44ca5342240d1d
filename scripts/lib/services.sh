# Background services for the scripts that run the functions under `cargo lambda` (lambda-tracing,
# check-template; the event checks are tests/python/test_lambda_emulator.py): a work folder, the
# services started into it, and a cleanup that ends every one of them (and their children) when
# the script exits. Source it; it sets `work`, `pids` and the EXIT/INT/TERM traps. `KEEP_WORK=1`
# keeps the work folder for a look.

work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    # Each service leads its own process group (setsid): end the whole group, which includes
    # the `cargo run` and function processes `cargo lambda watch` spawns.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts "$@" in its own session/process group, output to the log; its pid (= the group id)
# goes into `pids`.
start_bg() {
  local log=$1
  shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  pids+=("$!")
}

# Waits up to `seconds` for `pattern` in `log`; else shows the log and exits.
wait_for_log() { # log pattern seconds what
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "${4:-a service} did not start; its log:" >&2
  tail -n 30 "$1" >&2
  exit 1
}
