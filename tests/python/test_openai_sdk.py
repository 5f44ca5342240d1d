"""The official `openai` Python SDK against the gateway's local server on the fake Bedrock.

Every test checks what the SDK hands back and how many Bedrock calls the fake counted.
Clients use `max_retries=0`, so a failing request reaches Bedrock exactly once.
"""

from __future__ import annotations

import json
import time
import urllib.request

import openai
import pytest

from conftest import EMBEDDING_MODELS, FAULT_MODELS, FEATURE_MODELS, MASTER_KEY

SONNET = "claude-3-sonnet"
SONNET_ID = "anthropic.claude-3-sonnet-20240229-v1:0"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_plain_chat(client, servers):
    question = "What is Amazon Bedrock?"
    resp = client.chat.completions.create(
        model=SONNET,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": question},
        ],
        temperature=0.2,
        max_tokens=100,
    )
    assert resp.object == "chat.completion"
    assert resp.id
    assert resp.model == SONNET
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == f"Fake answer to: {question}"
    assert not choice.message.tool_calls
    assert choice.finish_reason == "stop"
    # The fake counts words: "Be brief." + the question = 2 + 4; the answer has 7 words.
    assert resp.usage.prompt_tokens == 6
    assert resp.usage.completion_tokens == 7
    assert resp.usage.total_tokens == 13
    assert servers.calls(SONNET_ID) == (1, 0)
    assert servers.total_calls() == 1


def test_stream_with_usage(client, servers):
    question = "Tell me about streams"
    stream = client.chat.completions.create(
        model=SONNET,
        messages=[{"role": "user", "content": question}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len(chunks) >= 4
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all(c.model == SONNET for c in chunks)
    assert len({c.id for c in chunks}) == 1, "one id for the whole stream"

    content_chunks = [c for c in chunks if c.choices]
    assert content_chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    assert text == f"Fake answer to: {question}"
    finishes = [c.choices[0].finish_reason for c in content_chunks if c.choices[0].finish_reason]
    assert finishes == ["stop"]

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == 4
    assert last.usage.completion_tokens == 7
    assert last.usage.total_tokens == 11
    assert all(c.usage is None for c in chunks[:-1]), "usage only in the last chunk"
    assert servers.calls(SONNET_ID) == (0, 1)
    assert servers.total_calls() == 1


def test_stream_without_usage_has_no_usage_chunk(client, servers):
    chunks = list(
        client.chat.completions.create(
            model=SONNET, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Fake answer to: hi"
    assert servers.calls(SONNET_ID) == (0, 1)


def test_stream_chunks_arrive_as_bedrock_sends_them(client, servers):
    """With 80 ms between the fake's stream events, the first content arrives long before the end."""
    servers.fake_post("/_fake/latency?per_event_ms=80")
    try:
        started = time.monotonic()
        stream = client.chat.completions.create(
            model=SONNET,
            messages=[{"role": "user", "content": "one two three four five six"}],
            stream=True,
        )
        arrivals = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic() - started)
        total = time.monotonic() - started
    finally:
        servers.fake_post("/_fake/latency?per_event_ms=0")
    assert len(arrivals) == 9  # "Fake answer to:" + six words, one delta per word
    assert total >= 0.8
    assert arrivals[0] < total - 0.4, f"content was held back: first at {arrivals[0]:.2f}s of {total:.2f}s"


def test_tool_call_round_trip(client, servers):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat.completions.create(model=SONNET, messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "test"}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"})
    second = client.chat.completions.create(model=SONNET, messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "Tool results: Sunny, 21 C"
    assert second.choices[0].finish_reason == "stop"
    assert not second.choices[0].message.tool_calls
    assert servers.calls(SONNET_ID) == (2, 0)


def test_forced_tool_choice(client, servers):
    other = {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {
                "type": "object",
                "properties": {"zone": {"type": "string"}, "hours": {"type": "integer"}},
                "required": ["zone", "hours"],
            },
        },
    }
    resp = client.chat.completions.create(
        model=SONNET,
        messages=[{"role": "user", "content": "What time is it?"}],
        tools=[WEATHER_TOOL, other],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    call = resp.choices[0].message.tool_calls[0]
    assert call.function.name == "get_time"
    assert json.loads(call.function.arguments) == {"zone": "test", "hours": 1}
    assert servers.calls(SONNET_ID) == (1, 0)


def test_streamed_tool_call(client, servers):
    stream = client.chat.completions.create(
        model=SONNET,
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    calls: dict[int, dict] = {}
    finishes = []
    usage = None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.finish_reason:
                finishes.append(choice.finish_reason)
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                if delta.id:
                    assert entry["id"] is None, "the id comes once"
                    entry["id"] = delta.id
                if delta.function and delta.function.name:
                    entry["name"] += delta.function.name
                if delta.function and delta.function.arguments:
                    entry["arguments"] += delta.function.arguments
    assert list(calls) == [0]
    assert calls[0]["id"]
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "test"}
    assert finishes == ["tool_calls"]
    assert usage is not None and usage.completion_tokens >= 1
    assert servers.calls(SONNET_ID) == (0, 1)


def test_models_list(client, servers):
    ids = [m.id for m in client.models.list()]
    assert ids[:3] == ["claude-3-sonnet", "claude-3-haiku", "titan-text"]
    assert set(ids) == {
        "claude-3-sonnet", "claude-3-haiku", "titan-text", *FEATURE_MODELS, *FAULT_MODELS,
        *EMBEDDING_MODELS,
    }
    assert servers.total_calls() == 0


def test_wrong_key_is_authentication_error(servers):
    bad = openai.OpenAI(base_url=servers.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.chat.completions.create(model=SONNET, messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 401
    assert err.value.type == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    bad.close()
    assert servers.total_calls() == 0


def test_n_above_one_is_bad_request_naming_n(client, servers):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=SONNET, messages=[{"role": "user", "content": "hi"}], n=2
        )
    e = err.value
    assert e.status_code == 400
    assert e.param == "n"
    assert e.body["param"] == "n"
    assert e.type == "invalid_request_error"
    assert "n" in e.body["message"]
    assert servers.total_calls() == 0


def test_unknown_model_is_not_found(client, servers):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.status_code == 404
    assert "no-such-model" in err.value.body["message"]
    assert servers.total_calls() == 0


def test_bedrock_throttling_is_rate_limit_error(client, servers):
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(
            model="flaky-throttle", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.status_code == 429
    assert servers.calls(FAULT_MODELS["flaky-throttle"]) == (1, 0)
    assert servers.total_calls() == 1


def test_bedrock_throttling_before_a_stream_is_rate_limit_error(client, servers):
    with pytest.raises(openai.RateLimitError) as err:
        list(
            client.chat.completions.create(
                model="flaky-throttle", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
    assert err.value.status_code == 429
    assert servers.calls(FAULT_MODELS["flaky-throttle"]) == (0, 1)


def test_bedrock_server_error_is_5xx(client, servers):
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(
            model="flaky-500", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.status_code in (502, 503)
    assert servers.calls(FAULT_MODELS["flaky-500"]) == (1, 0)


def test_x_api_key_header_works(servers):
    """The master key also works as `x-api-key` (the SDK itself always sends Bearer)."""
    req = urllib.request.Request(f"{servers.base_url}/models", headers={"x-api-key": MASTER_KEY})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
        assert json.load(r)["data"][0]["id"] == "claude-3-sonnet"
