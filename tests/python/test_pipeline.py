"""The request pipeline as an OpenAI SDK user meets it on the local server: a stalled stream
raises, and a slow usage store never slows an answer while every record still arrives."""

from __future__ import annotations

import time

import openai
import pytest

from conftest import FAULT_MODELS, USAGE_WRITE_MS


def _wait_for_records(servers, request_ids: set[str], timeout: float = 15.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = {r["request_id"]: r for r in servers.usage_records() if r["request_id"] in request_ids}
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_stream_that_stalls_raises_an_api_error_in_the_sdk(client, servers):
    stream = client.chat.completions.create(
        model="stalls", messages=[{"role": "user", "content": "go on and on"}], stream=True
    )
    received = []
    started = time.monotonic()
    with pytest.raises(openai.APIError) as err:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    elapsed = time.monotonic() - started
    assert received == ["Fake ", "answer "], "the words before the stall arrive"
    assert "stopped sending" in err.value.message
    assert err.value.code == "upstream_timeout"
    assert elapsed < 10, "cut off by stream_idle_timeout (1 s), not left to hang"
    assert servers.calls(FAULT_MODELS["stalls"]) == (0, 1)


def test_a_slow_usage_store_never_slows_an_answer_and_every_record_arrives(client, servers):
    ids = {}
    for stream in (False, True, False):
        started = time.monotonic()
        if stream:
            chunks = list(
                client.chat.completions.create(
                    model="claude-3-sonnet",
                    messages=[{"role": "user", "content": "hello"}],
                    stream=True,
                )
            )
            request_id = chunks[0].id
        else:
            request_id = client.chat.completions.create(
                model="claude-3-sonnet", messages=[{"role": "user", "content": "hello"}]
            ).id
        elapsed_ms = (time.monotonic() - started) * 1000
        # Each write takes USAGE_WRITE_MS; an answer that waited for it would take longer.
        assert elapsed_ms < USAGE_WRITE_MS * 2 / 3, f"{elapsed_ms:.0f} ms"
        ids[request_id] = stream
    records = _wait_for_records(servers, set(ids))
    assert set(records) == set(ids), "every record arrives after its answer"
    for request_id, streamed in ids.items():
        record = records[request_id]
        assert record["outcome"] == "success"
        assert record["streamed"] is streamed
        assert record["caller"] == "api" and record["key_id"] == "master"
        assert record["total_tokens"] > 0 and record["cost_usd"] > 0
        assert "hello" not in str(record), "no prompt text in a record"


def test_the_stalled_stream_is_recorded_as_an_idle_timeout(client, servers):
    stream = client.chat.completions.create(
        model="stalls", messages=[{"role": "user", "content": "stall please"}], stream=True
    )
    request_id = None
    with pytest.raises(openai.APIError):
        for chunk in stream:
            request_id = chunk.id
    record = _wait_for_records(servers, {request_id})[request_id]
    assert record["outcome"] == "failure"
    assert record["error_type"] == "provider.timeout.idle"
