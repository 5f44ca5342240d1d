"""A LiteLLM-style admin script, unchanged: `requests` calls to /team/new, /key/generate,
/key/info, /key/update, /key/delete, /team/info, /team/list with the master key, and the new
key used by the official OpenAI SDK (the local server's in-memory key store)."""

from __future__ import annotations

import openai
import pytest
import requests

from conftest import MASTER_KEY

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}


def test_litellm_admin_script_runs_unchanged(servers):
    base = servers.gateway_url
    team = requests.post(f"{base}/team/new", headers=ADMIN, timeout=10,
                         json={"team_alias": "finance", "max_budget": 100,
                               "budget_duration": "30d", "rpm_limit": 100})
    assert team.status_code == 200, team.text
    team_id = team.json()["team_id"]

    made = requests.post(f"{base}/key/generate", headers=ADMIN, timeout=10,
                         json={"team_id": team_id, "key_alias": "reporting",
                               "models": ["claude-3-haiku"], "max_budget": 5,
                               "duration": "30d", "metadata": {"owner": "ann"}})
    assert made.status_code == 200, made.text
    key = made.json()["key"]
    assert key.startswith("sk-") and made.json()["key_alias"] == "reporting"

    client = openai.OpenAI(base_url=servers.base_url, api_key=key, max_retries=0, timeout=20)
    answer = client.chat.completions.create(
        model="claude-3-haiku", messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    assert answer.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(
            model="claude-3-sonnet", messages=[{"role": "user", "content": "hi"}])

    info = requests.get(f"{base}/key/info", headers=ADMIN, params={"key": key}, timeout=10)
    assert info.status_code == 200 and info.json()["info"]["team_id"] == team_id
    assert info.json()["info"]["metadata"] == {"owner": "ann"}

    updated = requests.post(f"{base}/key/update", headers=ADMIN, timeout=10,
                            json={"key": key, "max_budget": 10})
    assert updated.status_code == 200 and updated.json()["max_budget"] == 10

    listed = requests.get(f"{base}/team/info", headers=ADMIN, params={"team_id": team_id},
                          timeout=10).json()
    assert [k["key_alias"] for k in listed["keys"]] == ["reporting"]
    assert key not in str(listed)
    teams = requests.get(f"{base}/team/list", headers=ADMIN, timeout=10).json()
    assert team_id in [t["team_id"] for t in teams]

    # A virtual key is no admin.
    refused = requests.get(f"{base}/team/list", headers={"Authorization": f"Bearer {key}"},
                           timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"

    deleted = requests.post(f"{base}/key/delete", headers=ADMIN, timeout=10,
                            json={"keys": [key]})
    assert deleted.json() == {"deleted_keys": [key]}
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="claude-3-haiku", messages=[{"role": "user", "content": "hi"}])
    client.close()
