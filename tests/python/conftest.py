"""Session fixtures: the fake Bedrock and the chat gateway as a local server, both on 127.0.0.1.

The gateway runs from a config written to a temp dir: config/local.yaml's three models plus
test-only models whose Bedrock ids select the fake's faults. Every test starts with the fake's
call counters reset, so it can assert exactly how many Bedrock calls a request made.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-local-dev-key"

# Test-only models: name -> Bedrock model id (a substring of the id picks the fake's fault).
# A current Claude (thinking and a prompt cache on Bedrock; the seed's Claude 3 models have
# neither), for the feature tests.
FEATURE_MODELS = {"claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}

FAULT_MODELS = {
    "flaky-throttle": "anthropic.claude-fault-throttle-v1:0",
    "flaky-500": "anthropic.claude-fault-500-v1:0",
    "stalls": "anthropic.claude-fault-stream-stall-v1:0",
}

# Embedding models: name -> Bedrock model id (the fake answers InvokeModel for both families).
EMBEDDING_MODELS = {
    "titan-embed": "amazon.titan-embed-text-v2:0",
    "cohere-embed": "cohere.embed-english-v3",
}
EMBEDDING_PRICE = 0.00000002

# Test-only guardrails: name -> mode (requests add them with `extra_body={"guardrails": [...]}`).
GUARDRAILS = {"content": "pre_call", "pii": "post_call"}

# Every usage write waits this long (`usage.simulated_latency_ms`): answers must not.
USAGE_WRITE_MS = 1500


@dataclass
class Servers:
    base_url: str  # the gateway's OpenAI base URL, ending in /v1
    gateway_url: str
    fake_url: str
    log_dir: Path
    usage_file: Path  # one JSON line per request, written after the response

    def usage_records(self) -> list[dict]:
        try:
            lines = self.usage_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def fake_calls(self) -> dict:
        """`{"<model id>": {"converse": n, "converse_stream": n}}` since the last reset."""
        with urllib.request.urlopen(f"{self.fake_url}/_fake/calls", timeout=5) as r:
            return json.load(r)["models"]

    def calls(self, model_id: str) -> tuple[int, int]:
        """(converse, converse_stream) calls for one Bedrock model id."""
        entry = self.fake_calls().get(model_id, {})
        return entry.get("converse", 0), entry.get("converse_stream", 0)

    def total_calls(self) -> int:
        return sum(e["converse"] + e["converse_stream"] + e.get("invoke", 0) for e in self.fake_calls().values())

    def fake_post(self, path: str) -> None:
        req = urllib.request.Request(f"{self.fake_url}{path}", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=5):
            pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _test_config(path: Path, usage_file: Path) -> None:
    """config/local.yaml plus the fault models (after its own), explicit zero retries (exact
    call counts), a one-second stream idle timeout, and usage records to a slow file sink."""
    text = (ROOT / "config" / "local.yaml").read_text()
    extra = "".join(
        f"  - model_name: {name}\n"
        f"    litellm_params:\n"
        f"      model: bedrock/{model_id}\n"
        f"      aws_region_name: us-east-1\n"
        for name, model_id in {**FEATURE_MODELS, **FAULT_MODELS}.items()
    ) + "".join(
        f"  - model_name: {name}\n"
        f"    litellm_params:\n"
        f"      model: bedrock/{model_id}\n"
        f"      aws_region_name: us-east-1\n"
        f"      input_cost_per_token: {EMBEDDING_PRICE}\n"
        f"    model_info:\n"
        f"      mode: embedding\n"
        for name, model_id in EMBEDDING_MODELS.items()
        if f"- model_name: {name}\n" not in text  # config/local.yaml's own (titan-embed)
    )
    # Append to the end of the model list (its indented lines), so the local models come first.
    block = re.search(r"^model_list:\n(?:(?:[ \t].*)?\n)*", text, re.MULTILINE)
    assert block, "config/local.yaml has a `model_list:`"
    text = text[: block.end()] + extra + text[block.end() :]
    text += "\nrouter_settings:\n  num_retries: 0\n  stream_idle_timeout: 1\n"
    # Two Bedrock guardrails on the fake's ApplyGuardrail, off unless a request names them.
    for name, mode in GUARDRAILS.items():
        text += (
            f"\nguardrails:\n" if name == next(iter(GUARDRAILS)) else ""
        ) + (
            f"  - guardrail_name: {name}\n    litellm_params:\n      guardrail: bedrock\n"
            f"      mode: {mode}\n      guardrailIdentifier: py-{name}\n"
            f"      guardrailVersion: '1'\n      aws_region_name: us-east-1\n"
            f"      mask_response_content: true\n"
        )
    # The response cache, on only for requests that opt in (`cache: {"use-cache": true}`).
    text += "\nlitellm_settings:\n  cache: true\n  cache_params:\n    type: local\n    mode: default_off\n"
    text += (
        f"\nusage:\n  sink: file\n  path: {usage_file}\n"
        f"  simulated_latency_ms: {USAGE_WRITE_MS}\n"
    )
    path.write_text(text)


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _wait_for(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout}s; log:\n{_tail(log)}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@dataclass
class FakeBedrock:
    url: str

    def calls(self) -> dict:
        """`{"<model id>": {"converse": n, "converse_stream": n}}` since the last reset."""
        with urllib.request.urlopen(f"{self.url}/_fake/calls", timeout=5) as r:
            return json.load(r)["models"]

    def total_calls(self) -> int:
        return sum(e["converse"] + e["converse_stream"] + e.get("invoke", 0) for e in self.calls().values())

    def post(self, path: str) -> None:
        req = urllib.request.Request(f"{self.url}{path}", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=5):
            pass


@pytest.fixture(scope="session")
def built_binaries() -> None:
    """The chat and lex functions and the test servers (fake-bedrock), built once per session."""
    subprocess.run(
        [
            "cargo", "build", "--quiet", "-p", "chat", "-p", "gateway-tests", "--bins",
            # usage.simulated_latency_ms (a slow usage store) is a benchmark knob.
            "--features", "chat/bench-knobs",
        ],
        cwd=ROOT,
        check=True,
    )


@pytest.fixture(scope="session")
def fake_bedrock(built_binaries, tmp_path_factory) -> FakeBedrock:
    """One fake Bedrock for the session (the local server and the Lambda emulators share it)."""
    work = tmp_path_factory.mktemp("fake-bedrock")
    fake_log = work / "fake-bedrock.log"
    fake = subprocess.Popen(
        [str(ROOT / "target/debug/fake-bedrock"), "--port", "0"],
        stdout=fake_log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        found: list[str] = []

        def fake_ready() -> bool:
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", fake_log.read_text())
            if m:
                found.append(m.group(1))
            return bool(found) or fake.poll() is not None

        _wait_for(fake_ready, 10, "fake-bedrock", fake_log)
        assert fake.poll() is None, f"fake-bedrock exited: {_tail(fake_log)}"
        yield FakeBedrock(found[0])
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.wait()


@pytest.fixture(scope="session")
def servers(fake_bedrock, tmp_path_factory) -> Servers:
    work = tmp_path_factory.mktemp("gateway")
    config = work / "config.yaml"
    usage_file = work / "usage.jsonl"
    _test_config(config, usage_file)
    fake_url = fake_bedrock.url
    gateway = None
    try:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_"))}
        env.pop("GATEWAY_LAMBDA_MODE", None)
        env.update(
            GATEWAY_CONFIG=str(config),
            LITELLM_MASTER_KEY=MASTER_KEY,
            AWS_ENDPOINT_URL_BEDROCK_RUNTIME=fake_url,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
            PORT=str(port),
        )
        gateway_log = work / "gateway.log"
        gateway = subprocess.Popen(
            [str(ROOT / "target/debug/chat")],
            stdout=gateway_log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        gateway_url = f"http://127.0.0.1:{port}"
        _wait_for(
            lambda: gateway.poll() is not None or _healthy(gateway_url),
            20,
            "the gateway",
            gateway_log,
        )
        assert gateway.poll() is None, f"the gateway exited: {_tail(gateway_log)}"

        yield Servers(f"{gateway_url}/v1", gateway_url, fake_url, work, usage_file)

        # Clean shutdown: SIGTERM, exit code 0 within a few seconds, even with an idle
        # keep-alive connection open (as a client's connection pool leaves one).
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        idle.request("GET", "/health")
        assert idle.getresponse().read()
        gateway.send_signal(signal.SIGTERM)
        try:
            code = gateway.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the gateway did not stop within 5 s of SIGTERM:\n{_tail(gateway_log)}")
        finally:
            idle.close()
        assert code == 0, f"the gateway exited {code} on SIGTERM:\n{_tail(gateway_log)}"
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
            gateway.wait()


@pytest.fixture(autouse=True)
def _reset_fake(request):
    """Zero the fake's call counters before every test that uses the servers."""
    if "servers" in request.fixturenames:
        request.getfixturevalue("servers").fake_post("/_fake/reset")
    yield


@pytest.fixture
def client(servers):
    import openai

    c = openai.OpenAI(base_url=servers.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)
    yield c
    c.close()
