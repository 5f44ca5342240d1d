#!/usr/bin/env bash
# Command 1: run the gateway locally with no AWS account.
# Starts the fake Bedrock (the real Bedrock wire protocol, deterministic answers) and the chat
# gateway as a local server on 127.0.0.1:${PORT:-4000}, then prints ready-to-run examples.
# Stop with Ctrl-C. To use real Bedrock instead, see README.md ("Real Bedrock").
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-4000}"
export LITELLM_MASTER_KEY="${LITELLM_MASTER_KEY:-sk-local-dev-key}"
export GATEWAY_CONFIG="${GATEWAY_CONFIG:-config/local.yaml}"

echo "Building (first run takes a few minutes)..."
cargo build --quiet -p chat -p gateway-tests --bins

work=$(mktemp -d)
cleanup() {
  [ -n "${gateway_pid:-}" ] && kill "$gateway_pid" 2>/dev/null || true
  [ -n "${fake_pid:-}" ] && kill "$fake_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

target/debug/fake-bedrock --port 0 > "$work/fake.out" &
fake_pid=$!
for _ in $(seq 100); do grep -q listening "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
fake_url=$(grep -o 'http://[0-9.:]*' "$work/fake.out")

# Static dummy credentials and a fixed region: the SDK signs requests for the fake and never
# looks for real AWS credentials or instance metadata.
AWS_ENDPOINT_URL_BEDROCK_RUNTIME="$fake_url" AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true PORT="$PORT" \
  target/debug/chat &
gateway_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "the gateway did not start"; exit 1; }

cat <<MSG

  LLM gateway running at http://127.0.0.1:$PORT  (fake Bedrock at $fake_url)
  Master key: $LITELLM_MASTER_KEY     Models: claude-3-sonnet, claude-3-haiku, titan-text

  curl http://127.0.0.1:$PORT/v1/chat/completions \\
    -H "Authorization: Bearer $LITELLM_MASTER_KEY" -H "Content-Type: application/json" \\
    -d '{"model":"claude-3-sonnet","messages":[{"role":"user","content":"Hello!"}]}'

  python3 -c 'from openai import OpenAI
  c = OpenAI(base_url="http://127.0.0.1:$PORT/v1", api_key="$LITELLM_MASTER_KEY")
  print(c.chat.completions.create(model="claude-3-sonnet", messages=[{"role":"user","content":"Hello!"}]).choices[0].message.content)'

  Ctrl-C stops both.
MSG
wait "$gateway_pid"
