"""deploy/version_ids.py: a change to the guardrail's policies or the bot's intents gives a new
version resource; anything else leaves both ids alone. Run: python deploy/test_version_ids.py
(scripts/check-template.sh runs it)."""

import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import version_ids  # noqa: E402

TEXT = (pathlib.Path(__file__).parents[1] / "template.yaml").read_text()


def ids(text):
    return version_ids.current_ids(version_ids.rewrite(text))


class VersionIds(unittest.TestCase):
    def test_the_checked_in_template_is_up_to_date(self):
        self.assertEqual(version_ids.rewrite(TEXT), TEXT)

    def test_a_new_strength_default_is_a_new_guardrail_version(self):
        before = ids(TEXT)
        changed = TEXT.replace(
            "GuardrailHateStrength: {Type: String, Default: HIGH,",
            "GuardrailHateStrength: {Type: String, Default: MEDIUM,",
        )
        self.assertNotEqual(changed, TEXT)
        after = ids(changed)
        self.assertNotEqual(after["GuardrailVersion"], before["GuardrailVersion"])
        self.assertEqual(after["QAAssistantBotVersion"], before["QAAssistantBotVersion"])
        # Every reference follows the new id; the stack's output keeps its name.
        rewritten = version_ids.rewrite(changed)
        self.assertNotIn(before["GuardrailVersion"], rewritten)
        self.assertIn(f"!GetAtt {after['GuardrailVersion']}.Version", rewritten)
        self.assertIn("\n  GuardrailVersion:\n    Value:", rewritten)

    def test_a_new_pii_rule_is_a_new_guardrail_version(self):
        changed = TEXT.replace(
            "          - {Type: PHONE, Action: ANONYMIZE}",
            "          - {Type: PHONE, Action: ANONYMIZE}\n          - {Type: NAME, Action: ANONYMIZE}",
        )
        self.assertNotEqual(ids(changed)["GuardrailVersion"], ids(TEXT)["GuardrailVersion"])

    def test_a_new_utterance_is_a_new_bot_version_and_the_alias_follows(self):
        before = ids(TEXT)
        changed = TEXT.replace(
            "                - Utterance: Can you help me\n",
            "                - Utterance: Can you help me\n                - Utterance: I need an answer\n",
        )
        self.assertNotEqual(changed, TEXT)
        after = ids(changed)
        self.assertNotEqual(after["QAAssistantBotVersion"], before["QAAssistantBotVersion"])
        self.assertEqual(after["GuardrailVersion"], before["GuardrailVersion"])
        rewritten = version_ids.rewrite(changed)
        self.assertIn(f"BotVersion: !GetAtt {after['QAAssistantBotVersion']}.BotVersion", rewritten)

    def test_unrelated_changes_keep_both_versions(self):
        changed = TEXT.replace("Default: LlmGateway", "Default: OtherNamespace")
        self.assertNotEqual(changed, TEXT)
        self.assertEqual(ids(changed), ids(TEXT))


if __name__ == "__main__":
    unittest.main()
