"""Both Lambda functions under cargo lambda's Runtime API emulator, on the fake Bedrock.

Four `cargo lambda watch` emulators, started once for the module:
  - chat streaming (the default, as behind the Function URL) and chat buffered
    (GATEWAY_LAMBDA_MODE=buffered, as behind the ALB), both on config/local.yaml; lex runs in the
    streaming one. Every events/chat-*.json, messages-*.json and embeddings-*.json goes through
    `cargo lambda invoke` in buffered mode, every events/*-function-url*.json of those in streaming
    mode, every events/lex-*.json to lex.
    For a streaming function the emulator answers with the streamed body and turns the status of
    the metadata prelude into its own HTTP status; `cargo lambda invoke` prints the body of a 2xx
    and fails on anything else, so the non-2xx events are read from the emulator's Invoke API.
  - a "slow" pair (streaming and buffered) on config/local.yaml plus two stalling models, 1 s
    stream timeouts and a usage file sink whose every write takes 2 s. Stalled streams must end;
    answers must come back long before their usage record is written; every request leaves exactly
    one record; the emulator keeps answering with the after-response extension registered.

The slow tests run in file order (they share one usage file and its expected records).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import MASTER_KEY, ROOT, _free_port, _tail, _wait_for

EVENTS = ROOT / "events"
HAVE_LEX = (ROOT / "functions/lex/Cargo.toml").exists()
VENV_BIN = ROOT / ".venv/bin"
USAGE_WRITE_MS = 2000  # the slow pair's usage.simulated_latency_ms
FAST_MS = 1500  # an answer must not include the sink's 2000 ms
STREAM_ME = "Stream me five words please"


# --- What each sample event must get (the same as tests/tests/it/lambda_events.rs) ---------------


def _json(body: str):
    return json.loads(body)


def _sse_ok(b: str) -> bool:
    if not (b.startswith("data: {") and b.endswith("data: [DONE]\n\n")):
        return False
    events = [e[len("data: "):] for e in b.strip().split("\n\n")]
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    return (
        text == "Fake answer to: Explain serverless in one sentence."
        and chunks[-1]["choices"] == []
        and chunks[-1]["usage"]["total_tokens"] > 0
    )


def _message(text: str):
    return lambda b: _json(b)["type"] == "message" and _json(b)["content"][0]["text"] == f"Fake answer to: {text}"


def _anthropic_events_ok(body: str) -> bool:
    """Anthropic's events from message_start to message_stop, with text and a stop reason."""
    names = [line[len("event: "):] for line in body.splitlines() if line.startswith("event: ")]
    return (
        bool(names)
        and names[0] == "message_start"
        and names[-1] == "message_stop"
        and "content_block_delta" in names
        and '"stop_reason":"end_turn"' in body
    )


def _embeddings_ok(body: str) -> bool:
    """Two 256-float vectors of titan-embed, in order, with their token count."""
    b = _json(body)
    return (
        b["model"] == "titan-embed"
        and [d["index"] for d in b["data"]] == [0, 1]
        and all(len(d["embedding"]) == 256 for d in b["data"])
        and b["usage"]["prompt_tokens"] > 0
    )


def _base64_vector_ok(body: str) -> bool:
    """One 1,024-float vector as base64 (4 bytes a float)."""
    data = _json(body)["data"]
    return len(data) == 1 and len(base64.b64decode(data[0]["embedding"])) == 1024 * 4


def _answer(text: str):
    return lambda b: _json(b)["choices"][0]["message"]["content"] == f"Fake answer to: {text}"


# name -> (status, body check, Bedrock calls it makes)
EXPECT = {
    "chat-function-url.json": (200, _answer("What is Amazon Bedrock?"), 1),
    "chat-function-url-base64.json": (200, _answer("What is Amazon Bedrock?"), 1),
    "chat-alb.json": (200, _answer("What is the capital of France?"), 1),
    "chat-function-url-stream.json": (200, _sse_ok, 1),
    "chat-alb-stream.json": (200, _sse_ok, 1),
    "chat-function-url-models.json": (200, lambda b: _json(b)["data"][0]["id"] == "claude-3-sonnet", 0),
    "chat-function-url-no-key.json": (401, lambda b: _json(b)["error"]["type"] == "authentication_error", 0),
    "chat-function-url-malformed.json": (400, lambda b: "not valid JSON" in _json(b)["error"]["message"], 0),
    "chat-function-url-invalid.json": (400, lambda b: _json(b)["error"]["param"] == "n", 0),
    "chat-alb-health.json": (200, lambda b: _json(b)["status"] == "healthy", 0),
    "messages-function-url.json": (200, _message("What is Amazon Bedrock?"), 1),
    "messages-alb.json": (200, _message("What is the capital of France?"), 1),
    "messages-function-url-stream.json": (200, _anthropic_events_ok, 1),
    "messages-alb-stream.json": (200, _anthropic_events_ok, 1),
    "messages-function-url-no-max-tokens.json": (
        400,
        lambda b: _json(b)["type"] == "error"
        and _json(b)["error"]["type"] == "invalid_request_error"
        and "max_tokens" in _json(b)["error"]["message"],
        0,
    ),
    # One InvokeModel per input (Titan embeds one text a call).
    "embeddings-function-url.json": (200, _embeddings_ok, 2),
    "embeddings-alb.json": (200, _base64_vector_ok, 1),
}

HTTP_EVENTS = sorted(p for api in ("chat", "messages", "embeddings") for p in EVENTS.glob(f"{api}-*.json"))
CHAT_CASES = [("buffered", p.name) for p in HTTP_EVENTS] + [
    ("streaming", p.name) for p in HTTP_EVENTS if "-function-url" in p.name
]
LEX_EVENTS = [p.name for p in sorted(EVENTS.glob("lex-*.json"))]


def _expectation(name: str):
    if name not in EXPECT:
        pytest.fail(
            f"events/{name} has no expectation in {Path(__file__).name} "
            "(and tests/tests/it/lambda_events.rs): add one"
        )
    return EXPECT[name]


# --- The emulators ----------------------------------------------------------------------------------


@dataclass
class Emulator:
    """One `cargo lambda watch`: its invoke port and its log."""

    name: str
    port: int
    log: Path
    env: dict
    proc: subprocess.Popen | None = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def count(self, needle: str) -> int:
        return self.log_text().count(needle)

    def invoke(self, function: str, event: Path, timeout: float = 180) -> subprocess.CompletedProcess:
        """`cargo lambda invoke`: stdout is what it prints, returncode whether it succeeded."""
        try:
            return subprocess.run(
                ["cargo", "lambda", "invoke", function, "--invoke-address", "127.0.0.1",
                 "--invoke-port", str(self.port), "--data-file", str(event)],
                cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, 124, e.stdout or "", f"timed out after {timeout}s")

    def invoke_api(self, function: str, body: bytes, timeout: float = 60) -> tuple[int, str]:
        """POST to the emulator's Invoke API (what `cargo lambda invoke` calls): status, body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", f"/2015-03-31/functions/{function}/invocations", body=body)
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors="replace")
        finally:
            conn.close()

    def chat_url(self, model: str, stream: bool, timeout: float, extra: dict | None = None):
        """A chat request through the emulator's Function URL path (/lambda-url/chat/...).
        Returns (status, headers, [(arrival time, line)], seconds)."""
        body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": STREAM_ME}]}
        body.update(extra or {})
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(
                "POST", "/lambda-url/chat/v1/chat/completions", body=json.dumps(body),
                headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            lines = []
            while True:
                line = resp.readline()
                if not line:
                    break
                lines.append((time.monotonic(), line.decode(errors="replace").rstrip("\r\n")))
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, lines, time.monotonic() - t0
        except (OSError, http.client.HTTPException) as e:
            return 0, {}, [(time.monotonic(), f"request failed: {e!r}")], time.monotonic() - t0
        finally:
            conn.close()

    def tail(self) -> str:
        lines = [
            l for l in self.log_text().splitlines()
            if not re.match(r"^ *(Fresh|Compiling) ", l)
        ]
        return "\n".join(l[:400] for l in lines[-15:])


def _emulator_env(fake_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_"))}
    env.pop("GATEWAY_LAMBDA_MODE", None)
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        GATEWAY_CONFIG="config/local.yaml",
        LITELLM_MASTER_KEY=MASTER_KEY,
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=fake_url,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def _slow_config(path: Path, usage_file: Path) -> int:
    """config/local.yaml plus two models on the fake's stall faults (`fault-stream-stall`: 3
    events, then silence; `fault-stall-before-first-event`: silence from the start), 1 s stream
    timeouts and a usage file sink whose every write takes 2 s. Returns the number of models."""
    text = (ROOT / "config/local.yaml").read_text()
    for section in ("router_settings", "usage"):
        assert not re.search(rf"^{section}:", text, re.MULTILINE), (
            f"config/local.yaml has a {section} section: merge this test's into it"
        )
    stalls = "".join(
        f"  - model_name: {name}\n    litellm_params:\n"
        f"      model: bedrock/anthropic.{fault}-v1:0\n      aws_region_name: us-east-1\n"
        for name, fault in (("stall", "fault-stream-stall"), ("stall-first", "fault-stall-before-first-event"))
    )
    text = re.sub(r"^model_list:[ \t]*\n", lambda m: m.group(0) + stalls, text, count=1, flags=re.MULTILINE)
    text += (
        "\n# Added by tests/python/test_lambda_emulator.py.\n"
        "router_settings:\n  stream_timeout: 1\n  stream_idle_timeout: 1\n\n"
        f"usage:\n  sink: file\n  path: {usage_file}\n  simulated_latency_ms: {USAGE_WRITE_MS}\n"
    )
    path.write_text(text)
    return len(re.findall(r"^  - model_name:", text, re.MULTILINE))


@dataclass
class Lambdas:
    streaming: Emulator
    buffered: Emulator
    slow_streaming: Emulator
    slow_buffered: Emulator
    fake_url: str
    usage_file: Path
    slow_deployments: int
    # Expected usage records of the slow pair: (request_id or "-", caller, model, outcome,
    # error_type or "-", streamed).
    slow_expected: list = field(default_factory=list)

    def chat(self, mode: str) -> Emulator:
        return self.streaming if mode == "streaming" else self.buffered

    def slow(self, mode: str) -> Emulator:
        return self.slow_streaming if mode == "streaming" else self.slow_buffered


@pytest.fixture(scope="module")
def lambdas(fake_bedrock, built_binaries, tmp_path_factory) -> Lambdas:
    # `cargo lambda watch` runs `cargo run --bin <name> --features bench-knobs` per function:
    # build each the same way, so the emulator finds them fresh.
    bins = ["chat"] + (["lex"] if HAVE_LEX else [])
    for b in bins:
        subprocess.run(["cargo", "build", "--quiet", "--bin", b, "--features", "bench-knobs"], cwd=ROOT, check=True)
    if not (VENV_BIN / "cargo-lambda").exists():
        subprocess.run([str(ROOT / "scripts/bootstrap-python.sh")], cwd=ROOT, check=True)

    work = tmp_path_factory.mktemp("lambda")
    usage_file = work / "usage.jsonl"
    slow_config = work / "slow-sink.yaml"
    deployments = _slow_config(slow_config, usage_file)
    base = _emulator_env(fake_bedrock.url)
    specs = {
        "streaming": ([], {}),
        "buffered": ([], {"GATEWAY_LAMBDA_MODE": "buffered"}),
        # `cargo lambda -v`: its debug log shows extensions registering and asking for events.
        "slow_streaming": (["-v"], {"GATEWAY_CONFIG": str(slow_config)}),
        "slow_buffered": (["-v"], {"GATEWAY_CONFIG": str(slow_config), "GATEWAY_LAMBDA_MODE": "buffered"}),
    }
    emulators: dict[str, Emulator] = {}
    try:
        for name, (flags, extra) in specs.items():
            em = Emulator(name, _free_port(), work / f"watch-{name}.log", {**base, **extra})
            em.proc = subprocess.Popen(
                ["cargo", "lambda", *flags, "watch", "--ignore-changes", "--features", "bench-knobs",
                 "--invoke-address", "127.0.0.1", "--invoke-port", str(em.port)],
                cwd=ROOT, env=em.env, stdout=em.log.open("wb"), stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,  # its own group: see teardown
            )
            emulators[name] = em
        for em in emulators.values():
            _wait_for(
                lambda em=em: em.proc.poll() is not None or "starting Runtime server" in em.log_text(),
                60, f"cargo lambda watch ({em.name})", em.log,
            )
            assert em.proc.poll() is None, f"cargo lambda watch ({em.name}) exited:\n{_tail(em.log)}"
        yield Lambdas(**emulators, fake_url=fake_bedrock.url, usage_file=usage_file,
                      slow_deployments=deployments)
    finally:
        # End each emulator's whole process group (the `cargo run` and function processes too).
        for em in emulators.values():
            try:
                os.killpg(em.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for em in emulators.values():
            try:
                em.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(em.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            em.proc.wait()


# --- chat: every sample event, in both modes ---------------------------------------------------------


def _check_buffered(name: str, out: str) -> None:
    status, check, _ = _expectation(name)
    resp = json.loads(out)
    assert resp.get("statusCode") == status, f"statusCode {resp.get('statusCode')}, expected {status}"
    body = resp.get("body") or ""
    if resp.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    assert check(body), f"unexpected body: {body[:1500]}"
    if "alb" in name:
        assert "statusDescription" in resp, "an ALB response needs statusDescription"


@pytest.mark.parametrize("mode,name", CHAT_CASES, ids=[f"{m}-{n}" for m, n in CHAT_CASES])
def test_chat_event(lambdas, fake_bedrock, mode, name):
    """The event's status and body, and exactly the Bedrock calls it makes (the fake's count)."""
    status, check, calls = _expectation(name)
    event = EVENTS / name
    em = lambdas.chat(mode)
    fake_bedrock.post("/_fake/reset")
    if mode == "buffered":
        res = em.invoke("chat", event)
        assert res.returncode == 0, f"cargo lambda invoke failed:\n{res.stdout[:600]}{res.stderr[:600]}"
        _check_buffered(name, res.stdout)
    elif status < 300:
        res = em.invoke("chat", event)
        assert res.returncode == 0, f"cargo lambda invoke failed:\n{res.stdout[:600]}{res.stderr[:600]}"
        body = res.stdout[:-1] if res.stdout.endswith("\n") else res.stdout  # invoke adds a newline
        assert check(body), f"unexpected body: {body[:1500]}"
    else:
        # `cargo lambda invoke` cannot show a non-2xx streamed answer: it must fail, and the
        # emulator's Invoke API (what invoke calls) shows status and body.
        res = em.invoke("chat", event)
        assert res.returncode != 0, f"cargo lambda invoke succeeded, expected HTTP {status}"
        got, body = em.invoke_api("chat", event.read_bytes())
        assert got == status, f"status {got}, expected {status}: {body[:1500]}"
        assert check(body), f"unexpected body: {body[:1500]}"
    assert fake_bedrock.total_calls() == calls, f"the fake counted Bedrock calls, expected {calls}"


@pytest.mark.parametrize("mode,min_spread", [("streaming", 0.3), ("buffered", 0.0)])
def test_chat_through_function_url_path(lambdas, fake_bedrock, mode, min_spread):
    """With 100 ms between the fake's stream events, the streaming function's chunks arrive spread
    over time as the fake sends them; the buffered one answers the same complete SSE body at once."""
    fake_bedrock.post("/_fake/latency?per_event_ms=100")
    try:
        status, _, lines, _ = lambdas.chat(mode).chat_url(
            "claude-3-sonnet", True, 60, {"stream_options": {"include_usage": True}}
        )
    finally:
        fake_bedrock.post("/_fake/latency?per_event_ms=0")
    assert status == 200, f"status {status}: {lines[:5]}"
    data = [(t, l) for t, l in lines if l.startswith("data: ")]
    assert data and data[-1][1] == "data: [DONE]", "the stream does not end with data: [DONE]"
    text = "".join(
        (json.loads(l[6:])["choices"] or [{"delta": {}}])[0]["delta"].get("content") or ""
        for _, l in data[:-1]
    )
    assert f"Fake answer to: {STREAM_ME}" in text, "the streamed text is not the fake's answer"
    spread = data[-1][0] - data[0][0]
    assert spread >= min_spread, f"all {len(data)} events arrived within {spread:.3f}s: not streamed"


# --- lex: every sample event -------------------------------------------------------------------------


def _check_lex(event_file: Path, out: str) -> None:
    event = json.loads(event_file.read_text())
    resp = json.loads(out)
    try:
        action = resp["sessionState"]["dialogAction"]["type"]
    except (KeyError, TypeError):
        pytest.fail(f"no sessionState.dialogAction.type: {out[:1500]}")
    if event["invocationSource"] == "FulfillmentCodeHook":
        state = resp["sessionState"].get("intent", {}).get("state")
        assert (action, state) == ("Close", "Fulfilled"), f"{action}/{state}, expected Close/Fulfilled"
        messages = resp.get("messages") or []
        assert any("Fake answer to:" in (m.get("content") or "") for m in messages), (
            "no message with the model's answer"
        )
    else:
        assert action == "Delegate", f"{action}, expected Delegate"


@pytest.mark.skipif(not HAVE_LEX, reason="functions/lex does not exist")
@pytest.mark.parametrize("name", LEX_EVENTS)
def test_lex_event(lambdas, name):
    res = lambdas.streaming.invoke("lex", EVENTS / name)
    assert res.returncode == 0, f"cargo lambda invoke failed:\n{res.stdout[:600]}{res.stderr[:600]}"
    _check_lex(EVENTS / name, res.stdout)


# --- The slow usage sink and stalled streams (the second emulator pair) ------------------------------
# Every request to this pair leaves one usage record, 2 s after its answer; each test adds the
# records it expects to `lambdas.slow_expected` before it asserts anything.

MODES = ["streaming", "buffered"]
TIMED = ["answer before its usage write", "back to back 1/3", "back to back 2/3", "back to back 3/3"]


def _rid(headers: dict) -> str:
    return headers.get("x-request-id") or "-"


def _body(lines) -> str:
    return "\n".join(l for _, l in lines) + "\n"


def _assert_fast_chat(lambdas, em: Emulator, timeout: float) -> None:
    status, headers, lines, secs = em.chat_url("claude-3-sonnet", False, timeout)
    lambdas.slow_expected.append((_rid(headers), "api", "claude-3-sonnet", "success", "-", "false"))
    assert status == 200, f"status {status}, expected 200: {_body(lines)[:600]}"
    assert json.loads(_body(lines))["choices"][0]["message"]["content"].startswith("Fake answer to:")
    assert secs * 1000 < FAST_MS, (
        f"answered in {secs * 1000:.0f} ms, not under {FAST_MS} ms: the {USAGE_WRITE_MS} ms usage write is in the way"
    )


def _timed_lex(lambdas, timeout: float) -> None:
    t0 = time.monotonic()
    res = lambdas.slow_streaming.invoke("lex", EVENTS / "lex-first-turn.json", timeout=timeout)
    ms = (time.monotonic() - t0) * 1000  # includes cargo lambda invoke's own start
    lambdas.slow_expected.append(("-", "lex", "claude-3-sonnet", "success", "-", "false"))
    assert res.returncode == 0, f"cargo lambda invoke failed:\n{res.stdout[:600]}{res.stderr[:600]}"
    messages = json.loads(res.stdout).get("messages") or []
    assert any("Fake answer to:" in (m.get("content") or "") for m in messages), "no Lex message with the model's answer"
    assert ms < FAST_MS, f"answered in {ms:.0f} ms, not under {FAST_MS} ms: the usage write is in the way"


@pytest.mark.parametrize("mode", MODES)
def test_slow_config_accepted_first_answer(lambdas, mode):
    """The first request starts the function (not timed); it answers only if the function
    accepted the merged config, and the log shows every deployment and no config warning."""
    em = lambdas.slow(mode)
    status, headers, lines, _ = em.chat_url("claude-3-sonnet", False, 180)
    lambdas.slow_expected.append((_rid(headers), "api", "claude-3-sonnet", "success", "-", "false"))
    assert status == 200, f"HTTP {status}; log:\n{em.tail()}"
    log = em.log_text()
    config_lines = [l[:300] for l in log.splitlines() if '"message":"config: ' in l]
    # The local config's Claude 3 models are past their end of life on Bedrock: that warning is
    # expected (and checked); any other config warning means the config was not taken as written.
    end_of_life = [l for l in config_lines if "end of life" in l]
    warnings_ = [l for l in config_lines if "end of life" not in l]
    assert not warnings_, f"config warnings: {warnings_[:3]}"
    assert any("claude-3-sonnet" in l for l in end_of_life), "no end-of-life warning for claude-3-sonnet"
    assert re.search(rf'"deployments":{lambdas.slow_deployments}\b', log), (
        f'no "deployments":{lambdas.slow_deployments} in the log'
    )


@pytest.mark.parametrize("mode", MODES)
def test_slow_stalled_stream_ends_with_error_frame(lambdas, mode):
    """A stream that stalls after 3 events: the chunks so far, then an error frame and no [DONE]
    (a client must not take it for a whole answer), after ~1 s (stream_idle_timeout), not never."""
    status, headers, lines, secs = lambdas.slow(mode).chat_url("stall", True, 30)
    lambdas.slow_expected.append((_rid(headers), "api", "stall", "failure", "provider.timeout.idle", "true"))
    assert status == 200, f"status {status}, expected 200 (the stream had started)"
    data = [l[len("data: "):] for _, l in lines if l.startswith("data: ")]
    assert "[DONE]" not in data, "a stalled stream must not end with data: [DONE]"
    assert len(data) >= 2, f"{len(data)} data frames, expected chunks and then the error frame"
    frames = [json.loads(d) for d in data]
    text = "".join((f.get("choices") or [{"delta": {}}])[0]["delta"].get("content") or "" for f in frames[:-1])
    assert not any("error" in f for f in frames[:-1]) and text.startswith("Fake"), (
        f"the frames before the error are not the fake's first chunks (text {text!r})"
    )
    assert (frames[-1].get("error") or {}).get("code") == "upstream_timeout", (
        "the last frame is not an error frame with code upstream_timeout"
    )
    assert secs < 10, f"the stalled stream took {secs:.1f}s to end (stream_idle_timeout is 1 s)"


@pytest.mark.parametrize("mode", MODES)
def test_slow_stall_before_first_event_is_504(lambdas, mode):
    """A stream that never starts: the gateway gives up after stream_timeout (1 s), before it has
    sent a byte, so even the streaming function answers a plain 504 with OpenAI's error body (the
    status goes into the metadata prelude, and the emulator makes it its own HTTP status)."""
    status, headers, lines, secs = lambdas.slow(mode).chat_url("stall-first", True, 30)
    lambdas.slow_expected.append(
        (_rid(headers), "api", "stall-first", "failure", "provider.timeout.first_event", "true")
    )
    assert status == 504, f"status {status}, expected 504: {_body(lines)[:600]}"
    err = json.loads(_body(lines)).get("error")
    assert isinstance(err, dict) and set(err) == {"message", "type", "param", "code"}, (
        "not an OpenAI error body (error: message, type, param, code)"
    )
    assert err["code"] == "upstream_timeout" and err["message"], f"error code {err['code']!r}"
    assert secs < 10, f"took {secs:.1f}s (stream_timeout is 1 s)"


@pytest.mark.parametrize("what", TIMED)
@pytest.mark.parametrize("mode", MODES)
def test_slow_answer_before_its_usage_write(lambdas, mode, what):
    """A whole answer well under the 2000 ms its usage write takes (the write is after the
    response); then three back to back: none waits for the writes of the ones before."""
    _assert_fast_chat(lambdas, lambdas.slow(mode), 30)


@pytest.mark.skipif(not HAVE_LEX, reason="functions/lex does not exist")
def test_slow_lex_first_answer(lambdas):
    """lex in the slow streaming emulator (same GATEWAY_CONFIG): its first start, not timed."""
    res = lambdas.slow_streaming.invoke("lex", EVENTS / "lex-first-turn.json", timeout=180)
    lambdas.slow_expected.append(("-", "lex", "claude-3-sonnet", "success", "-", "false"))
    assert res.returncode == 0, f"cargo lambda invoke failed:\n{res.stdout[:600]}{res.stderr[:600]}"
    _check_lex(EVENTS / "lex-first-turn.json", res.stdout)


@pytest.mark.skipif(not HAVE_LEX, reason="functions/lex does not exist")
@pytest.mark.parametrize("what", TIMED)
def test_slow_lex_answer_before_its_usage_write(lambdas, what):
    _timed_lex(lambdas, 30)


def _usage_lines(path: Path) -> int:
    try:
        return sum(1 for l in path.read_text().splitlines() if l.strip())
    except FileNotFoundError:
        return 0


def _wait_for_records(lambdas, seconds: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds and _usage_lines(lambdas.usage_file) < len(lambdas.slow_expected):
        time.sleep(0.1)
    return time.monotonic() - t0


def _check_usage(lambdas) -> str:
    """Records with a known request_id are matched by it; the rest as a multiset of their fields."""
    lines = [l for l in lambdas.usage_file.read_text().splitlines() if l.strip()] if lambdas.usage_file.exists() else []
    records = [json.loads(l) for l in lines]
    expected = lambdas.slow_expected
    assert len(records) == len(expected), f"{len(records)} records, expected {len(expected)} (one per request)"
    ids = [r.get("request_id") for r in records]
    assert all(ids) and len(set(ids)) == len(ids), "request_id missing or not unique"

    def fields(r):
        return (r["caller"], r["model"], r["outcome"], r["error_type"] or "-", str(r["streamed"]).lower())

    by_id = {r["request_id"]: r for r in records}
    rest = []
    for rid, *want in expected:
        if rid == "-":
            rest.append(tuple(want))
            continue
        assert rid in by_id, f"no record for request {rid}"
        got = fields(by_id.pop(rid))
        assert got == tuple(want), f"record {rid}: {got}, expected {tuple(want)}"
    assert sorted(fields(r) for r in by_id.values()) == sorted(rest)
    return f"{len(records)} records"


def test_slow_usage_one_record_per_request(lambdas):
    """Every request's record arrives, once, about 2 s after the last answer: sooner would mean
    the sink is not slow at all, and the timings above would prove nothing."""
    waited = _wait_for_records(lambdas, 15)
    _check_usage(lambdas)
    assert waited >= 1.5, (
        f"complete {waited:.1f}s after the last answer: is the {USAGE_WRITE_MS} ms simulated_latency_ms applied?"
    )


@pytest.mark.parametrize("mode", MODES)
def test_slow_unparseable_event_releases_the_hold(lambdas, mode):
    """An event the handler never sees (`{}` is no HTTP event: lambda_http refuses it before the
    router) must still end the extension's hold: the runtime layer signals every invocation's end."""
    em = lambdas.slow(mode)
    before = em.count("extension waiting for next event")
    try:
        em.invoke_api("chat", b"{}", timeout=10)
    except OSError:
        pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and em.count("extension waiting for next event") <= before:
        time.sleep(0.1)
    assert em.count("extension waiting for next event") > before, (
        "no 'extension waiting for next event' within 5 s"
    )
    _report_extension(em)


def _report_extension(em: Emulator) -> None:
    """Whether the after-response extension registered: a finding, as in the old script (cargo
    lambda's emulator neither waits for extensions nor freezes anything: the extension can only
    fail to register, and the gateway then writes in the background)."""
    log = em.log_text()
    not_registered = log.count("after-response extension not registered")
    starts = log.count("Running `target/debug/")
    if not_registered:
        warnings.warn(f"{em.name}: after-response extension NOT registered in {not_registered} of {starts} function starts")
    else:
        print(
            f"{em.name}: after-response extension registered ({log.count('registering extension')} "
            f"registrations, {starts} function starts, "
            f"{log.count('extension waiting for next event')} next-event calls)"
        )


@pytest.mark.parametrize("mode", MODES)
def test_slow_answered_after_the_writes(lambdas, mode):
    """With every record written, each extension has finished holding and asks for its next
    event: the emulator must go on answering, at once."""
    _assert_fast_chat(lambdas, lambdas.slow(mode), 10)


@pytest.mark.skipif(not HAVE_LEX, reason="functions/lex does not exist")
def test_slow_lex_answered_after_the_writes(lambdas):
    _timed_lex(lambdas, 10)


def test_slow_usage_those_records_no_more(lambdas):
    _wait_for_records(lambdas, 15)
    time.sleep(0.5)  # a duplicate would come with the others
    _check_usage(lambdas)
