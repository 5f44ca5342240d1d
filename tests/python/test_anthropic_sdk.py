"""The official `anthropic` Python SDK against the gateway's `/v1/messages` on the fake Bedrock:
whole and streamed answers, tools and tool results, images, stop sequences, count_tokens, and
errors as the SDK's own exception classes. Each test checks the SDK's objects, the Bedrock calls
the fake counted, and the usage records the gateway wrote. `max_retries=0` throughout.
"""

from __future__ import annotations

import json
import time
import urllib.request

import anthropic
import pytest

from conftest import FAULT_MODELS, MASTER_KEY

SONNET = "claude-3-sonnet"
SONNET_ID = "anthropic.claude-3-sonnet-20240229-v1:0"
# Thinking and the prompt cache need a current Claude (conftest.FEATURE_MODELS).
CLAUDE45 = "claude-sonnet-4-5"
CLAUDE45_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
PNG = "iVBORw0KGgo="

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def claude(servers):
    c = anthropic.Anthropic(
        base_url=servers.gateway_url, api_key=MASTER_KEY, max_retries=0, timeout=20
    )
    yield c
    c.close()


def _records(servers, request_ids: set[str], timeout: float = 15.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = {r["request_id"]: r for r in servers.usage_records() if r["request_id"] in request_ids}
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _last_request(servers, model_id: str) -> dict:
    with urllib.request.urlopen(f"{servers.fake_url}/_fake/last-request/{model_id}", timeout=5) as r:
        return json.load(r)


def test_a_whole_message(claude, servers):
    message = claude.messages.create(
        model=SONNET,
        max_tokens=100,
        system="Be brief.",
        metadata={"user_id": "alice"},
        messages=[
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": "What is Amazon Bedrock?"},
        ],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == SONNET
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Fake answer to: What is Amazon Bedrock?"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    # The fake counts words: 2 + 1 + 1 + 4 in, 7 out.
    assert (message.usage.input_tokens, message.usage.output_tokens) == (8, 7)
    assert servers.calls(SONNET_ID) == (1, 0)
    record = _records(servers, {message.id})[message.id]
    assert record["model"] == SONNET and record["user"] == "alice"
    assert record["outcome"] == "success" and not record["streamed"]
    assert (record["prompt_tokens"], record["completion_tokens"]) == (8, 7)


def test_a_streamed_message(claude, servers):
    with claude.messages.stream(
        model=SONNET,
        max_tokens=100,
        messages=[{"role": "user", "content": "Tell me about streams"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Fake answer to: Tell me about streams"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 7
    assert final.usage.input_tokens == 4
    assert servers.calls(SONNET_ID) == (0, 1)
    record = _records(servers, {final.id})[final.id]
    assert record["streamed"] and record["outcome"] == "success"
    assert record["completion_tokens"] == 7


def test_raw_stream_events_in_order(claude, servers):
    events = list(
        claude.messages.create(
            model=SONNET,
            max_tokens=100,
            stream=True,
            messages=[{"role": "user", "content": "hi"}],
        )
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert events[-2].delta.stop_reason == "end_turn"


def test_tools_and_tool_results_whole_and_streamed(claude, servers):
    first = claude.messages.create(
        model=SONNET,
        max_tokens=200,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"city": "test"}
    sent = _last_request(servers, SONNET_ID)
    assert sent["toolConfig"]["toolChoice"] == {"any": {}}

    with claude.messages.stream(
        model=SONNET,
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [c.model_dump() for c in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}],
            },
        ],
    ) as stream:
        answer = stream.get_final_message()
    assert answer.content[0].text == "Tool results: sunny, 21C"
    assert answer.stop_reason == "end_turn"

    # A tool call streamed: the SDK assembles the input from input_json_delta events.
    with claude.messages.stream(
        model=SONNET,
        max_tokens=200,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather in Rome?"}],
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.stop_reason == "tool_use"
    assert streamed.content[-1].type == "tool_use"
    assert streamed.content[-1].input == {"city": "test"}


def test_images(claude, servers):
    message = claude.messages.create(
        model=SONNET,
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "text", "text": "What is this"},
                ],
            }
        ],
    )
    assert message.content[0].text == "Fake answer to: What is this (with 1 image(s))"
    sent = _last_request(servers, SONNET_ID)
    assert sent["messages"][0]["content"][0]["image"]["format"] == "png"


def test_stop_sequences(claude, servers):
    message = claude.messages.create(
        model=SONNET,
        max_tokens=100,
        stop_sequences=["STOP"],
        messages=[{"role": "user", "content": "count one two STOP three"}],
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "STOP"
    assert message.content[0].text == "Fake answer to: count one two"
    assert _last_request(servers, SONNET_ID)["inferenceConfig"]["stopSequences"] == ["STOP"]


def test_count_tokens_costs_nothing(claude, servers):
    before = len(servers.usage_records())
    counted = claude.messages.count_tokens(
        model=SONNET,
        system="Be brief.",
        messages=[{"role": "user", "content": "How are you today"}],
    )
    assert counted.input_tokens == 6
    assert servers.total_calls() == 0
    time.sleep(0.2)
    assert len(servers.usage_records()) == before


THOUGHT = "The user wants an answer. I will give it plainly."
SIGNATURE = "fake-thinking-signature"


def test_thinking_whole_and_streamed(claude, servers):
    ask = dict(
        model=CLAUDE45,
        max_tokens=3000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "Why is the sky blue"}],
    )
    message = claude.messages.create(**ask)
    thinking, text = message.content
    assert (thinking.type, thinking.thinking, thinking.signature) == ("thinking", THOUGHT, SIGNATURE)
    assert text.text == "Fake answer to: Why is the sky blue"
    sent = _last_request(servers, CLAUDE45_ID)
    assert sent["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2000}}
    assert message.usage.output_tokens == 18

    with claude.messages.stream(**ask) as stream:
        streamed_thinking = "".join(
            e.delta.thinking for e in stream if e.type == "content_block_delta" and e.delta.type == "thinking_delta"
        )
        final = stream.get_final_message()
    assert streamed_thinking == THOUGHT
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature == SIGNATURE
    assert final.content[1].text == "Fake answer to: Why is the sky blue"
    assert servers.calls(CLAUDE45_ID) == (1, 1)
    records = _records(servers, {message.id, final.id})
    assert all(r["reasoning_tokens"] for r in records.values()), records


def test_cache_control_whole_and_streamed(claude, servers):
    system = f"You answer questions about the weather only, run {time.time_ns()}."
    words = len(system.split())

    def ask():
        return dict(
            model=CLAUDE45,
            max_tokens=100,
            system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "Rain today"}],
        )

    first = claude.messages.create(**ask())
    sent = _last_request(servers, CLAUDE45_ID)
    assert sent["system"] == [{"text": system}, {"cachePoint": {"type": "default"}}]
    assert first.usage.cache_creation_input_tokens == words
    assert first.usage.input_tokens == 2
    with claude.messages.stream(**ask()) as stream:
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == words
    assert final.usage.cache_creation_input_tokens == 0
    assert _last_request(servers, CLAUDE45_ID)["system"][1] == {"cachePoint": {"type": "default"}}
    records = _records(servers, {first.id, final.id})
    assert records[first.id]["cache_write_tokens"] == words
    assert records[final.id]["cache_read_tokens"] == words


def test_errors_are_the_sdks_exceptions(claude, servers):
    bad = anthropic.Anthropic(base_url=servers.gateway_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as err:
        bad.messages.create(model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 401
    assert err.value.body["error"]["type"] == "authentication_error"
    bad.close()

    with pytest.raises(anthropic.BadRequestError) as err:
        claude.post(
            "/v1/messages",
            body={"model": SONNET, "messages": [{"role": "user", "content": "hi"}]},
            cast_to=anthropic.types.Message,
        )
    assert "max_tokens" in err.value.body["error"]["message"]

    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="gpt-4", max_tokens=10, messages=[{"role": "user", "content": "hi"}])

    with pytest.raises(anthropic.BadRequestError) as err:
        claude.messages.create(
            model=SONNET,
            max_tokens=1024,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "hi"}],
        )
    assert "max_tokens" in err.value.body["error"]["message"]

    with pytest.raises(anthropic.BadRequestError) as err:
        claude.messages.create(
            model=SONNET,
            max_tokens=10,
            messages=[{"role": "user", "content": "please BLOCKME"}],
            extra_body={"guardrails": ["content"]},
        )
    assert "content policy" in err.value.body["error"]["message"]

    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(
            model="flaky-throttle", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert servers.calls(FAULT_MODELS["flaky-throttle"]) == (1, 0)
    assert servers.calls(SONNET_ID) == (0, 0)


def test_a_stream_that_stalls_ends_with_an_error_event(claude, servers):
    with pytest.raises(anthropic.APIStatusError) as err:
        with claude.messages.stream(
            model="stalls", max_tokens=100, messages=[{"role": "user", "content": "go on and on"}]
        ) as stream:
            for _ in stream.text_stream:
                pass
    assert "did not" in str(err.value) or "stopped" in str(err.value)
