"""Bedrock guardrails as an OpenAI SDK user meets them: a streamed answer arrives with the email
and phone number masked as Bedrock returns them, and a blocked request is a BadRequestError
with OpenAI's content-policy code, without a model call."""

from __future__ import annotations

import openai
import pytest

SONNET = "claude-3-sonnet"


def test_a_streamed_answer_arrives_masked(client, servers):
    stream = client.chat.completions.create(
        model=SONNET,
        stream=True,
        messages=[{"role": "user", "content": "write to alice@example.com. Or call +1 555 123 4567 now"}],
        extra_body={"guardrails": ["pii"]},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Fake answer to: write to {EMAIL}. Or call {PHONE} now"
    assert servers.total_calls() == 1


def test_a_blocked_request_is_a_bad_request_and_the_model_is_not_called(client, servers):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=SONNET,
            messages=[{"role": "user", "content": "please BLOCKME"}],
            extra_body={"guardrails": ["content"]},
        )
    assert err.value.code == "content_policy_violation"
    assert servers.total_calls() == 0
