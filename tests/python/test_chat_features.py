"""Today's Claude features through the official `openai` SDK, as LiteLLM maps them: reasoning,
prompt caching, structured output and documents, whole and streamed, against the local
gateway on the fake Bedrock. Each test checks what the SDK hands back, what the fake received
and the usage record.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request

import openai
import pytest

SONNET = "claude-3-sonnet"
SONNET_ID = "anthropic.claude-3-sonnet-20240229-v1:0"
# Thinking and the prompt cache need a current Claude (conftest.FEATURE_MODELS).
CLAUDE45 = "claude-sonnet-4-5"
CLAUDE45_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
THOUGHT = "The user wants an answer. I will give it plainly."
SIGNATURE = "fake-thinking-signature"
SYSTEM = "You are a careful assistant who answers questions about the weather only."


def last_request(servers, model_id: str) -> dict:
    with urllib.request.urlopen(f"{servers.fake_url}/_fake/last-request/{model_id}", timeout=5) as r:
        return json.load(r)


def record_for(servers, request_id: str) -> dict:
    """The usage record of one request (written after the response, so wait for it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for record in servers.usage_records():
            if record["request_id"] == request_id:
                return record
        time.sleep(0.1)
    raise AssertionError(f"no usage record for {request_id}")


def test_reasoning_effort_whole(client, servers):
    resp = client.chat.completions.create(
        model=CLAUDE45,
        messages=[{"role": "user", "content": "Why is the sky blue"}],
        reasoning_effort="medium",
    )
    message = resp.choices[0].message
    assert message.content == "Fake answer to: Why is the sky blue"
    extra = message.model_extra
    assert extra["reasoning_content"] == THOUGHT
    assert extra["thinking_blocks"] == [{"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE}]
    sent = last_request(servers, CLAUDE45_ID)
    assert sent["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert resp.usage.completion_tokens == 18
    assert resp.usage.completion_tokens_details.reasoning_tokens > 0
    record = record_for(servers, resp.id)
    assert record["reasoning_tokens"] == resp.usage.completion_tokens_details.reasoning_tokens
    assert record["completion_tokens"] == 18


def test_thinking_streamed(client, servers):
    stream = client.chat.completions.create(
        model=CLAUDE45,
        messages=[{"role": "user", "content": "Why is the sky blue"}],
        max_tokens=3000,
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}},
        stream=True,
        stream_options={"include_usage": True},
    )
    reasoning, content, usage = "", "", None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            if delta.content:
                assert reasoning == THOUGHT, "all thinking comes before the answer"
                content += delta.content
    assert reasoning == THOUGHT
    assert content == "Fake answer to: Why is the sky blue"
    assert usage.completion_tokens_details.reasoning_tokens > 0
    assert servers.calls(CLAUDE45_ID) == (0, 1)


def test_thinking_rules_are_400s(client, servers):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=CLAUDE45,
            messages=[{"role": "user", "content": "x"}],
            reasoning_effort="high",
            temperature=0.3,
        )
    assert err.value.body["param"] == "temperature"
    assert servers.total_calls() == 0


def test_prompt_cache_written_then_read(client, servers):
    words = len(SYSTEM.split())

    def ask(question: str, stream: bool):
        return client.chat.completions.create(
            model=CLAUDE45,
            messages=[
                {"role": "system", "content": [
                    {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": question},
            ],
            stream=stream,
            **({"stream_options": {"include_usage": True}} if stream else {}),
        )

    first = ask(f"Rain today {time.time_ns()}", False)
    sent = last_request(servers, CLAUDE45_ID)
    assert sent["system"] == [{"text": SYSTEM}, {"cachePoint": {"type": "default"}}]
    assert first.usage.model_extra["cache_creation_input_tokens"] == words
    assert first.usage.prompt_tokens == words + 3
    usage = None
    for chunk in ask("Sun tomorrow", True):
        usage = chunk.usage or usage
    assert usage.prompt_tokens_details.cached_tokens == words
    assert usage.model_extra["cache_read_input_tokens"] == words
    record = record_for(servers, first.id)
    assert record["cache_write_tokens"] == words


def test_structured_output_json_schema(client, servers):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
        "required": ["city", "celsius"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema}}
    resp = client.chat.completions.create(
        model=SONNET,
        messages=[{"role": "user", "content": "Weather in Paris as JSON"}],
        response_format=fmt,
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    assert json.loads(choice.message.content) == {"city": "test", "celsius": 1}
    sent = last_request(servers, SONNET_ID)
    assert sent["toolConfig"]["toolChoice"] == {"tool": {"name": "json_tool_call"}}

    streamed = ""
    finish = None
    for chunk in client.chat.completions.create(
        model=SONNET,
        messages=[{"role": "user", "content": "Weather in Paris as JSON"}],
        response_format=fmt,
        stream=True,
    ):
        for c in chunk.choices:
            streamed += c.delta.content or ""
            assert not c.delta.tool_calls
            finish = c.finish_reason or finish
    assert json.loads(streamed) == {"city": "test", "celsius": 1}
    assert finish == "stop"


def test_pdf_file_part(client, servers):
    pdf = base64.b64encode(b"%PDF-1.4 fake").decode()
    resp = client.chat.completions.create(
        model=SONNET,
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "Summarize"},
            {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{pdf}", "filename": "report.v2.pdf"}},
        ]}],
    )
    assert resp.choices[0].message.content.startswith("Fake answer to: Summarize")
    document = last_request(servers, SONNET_ID)["messages"][0]["content"][1]["document"]
    assert document["format"] == "pdf"
    assert document["name"] == "report-v2-pdf"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=SONNET,
            messages=[{"role": "user", "content": [
                {"type": "file", "file": {"file_data": "data:application/zip;base64,AAAA"}}]}],
        )
    assert err.value.body["param"] == "messages[0].content[0].file"
