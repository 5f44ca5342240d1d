//! Bedrock's ApplyGuardrail as a [`Guardrail`]: a configured guardrail id and version, called
//! through the lean signed client (`providers::bedrock::signed`: the SDK's signer over a shared
//! hyper pool; the SDK's per-call machinery was the largest CPU item with guardrails on).
//!
//! Bedrock answers `NONE` or `GUARDRAIL_INTERVENED`. An intervention is a block when any policy
//! says `BLOCKED` (or none says what it did), else a mask: the `outputs` carry the texts with
//! `{EMAIL}`, `{PHONE}`, ... in place, one per text sent. The wire shapes are Bedrock's
//! (`POST /guardrail/{id}/version/{version}/apply`, REST JSON), read leniently.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{Checked, Guardrail, GuardrailError, GuardrailSource, GuardrailVerdict};
use crate::providers::bedrock::signed::SignedClient;

/// The longest an ApplyGuardrail call may take before it counts as failed.
pub const GUARDRAIL_CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct BedrockGuardrail {
    name: String,
    /// `/guardrail/{id}/version/{version}/apply`, percent-encoded once at start-up.
    path: String,
    client: SignedClient,
}

impl BedrockGuardrail {
    pub fn new(name: &str, id: &str, version: &str, client: SignedClient) -> Self {
        BedrockGuardrail {
            name: name.to_owned(),
            path: format!("/guardrail/{}/version/{}/apply", label(id), label(version)),
            client,
        }
    }

    async fn apply(
        &self,
        source: GuardrailSource,
        texts: &[String],
    ) -> Result<Checked, GuardrailError> {
        let content: Vec<Content<'_>> = texts
            .iter()
            .filter(|t| !t.is_empty())
            .map(|text| Content {
                text: TextBlock { text },
            })
            .collect();
        if content.is_empty() {
            return Ok(GuardrailVerdict::Pass.into());
        }
        let source = match source {
            GuardrailSource::Input => "INPUT",
            GuardrailSource::Output => "OUTPUT",
        };
        let body = serde_json::to_vec(&ApplyRequest { source, content })
            .map_err(|err| GuardrailError(err.to_string()))?;
        let answer = self
            .client
            .post_json(&self.path, body)
            .await
            .map_err(|err| GuardrailError(format!("ApplyGuardrail: {err}")))?;
        let output: ApplyResponse = serde_json::from_slice(&answer)
            .map_err(|err| GuardrailError(format!("ApplyGuardrail answer: {err}")))?;
        let entities = entity_types(&output.assessments);
        if output.action != "GUARDRAIL_INTERVENED" {
            return Ok(Checked {
                verdict: GuardrailVerdict::Pass,
                entities,
            });
        }
        if blocked(&output.assessments) || entities.is_empty() {
            return Ok(Checked {
                verdict: GuardrailVerdict::Blocked,
                entities,
            });
        }
        let outputs: Vec<&str> = output
            .outputs
            .iter()
            .filter_map(|o| o.text.as_deref())
            .collect();
        let sent = texts.iter().filter(|t| !t.is_empty()).count();
        if outputs.len() != sent {
            return Err(GuardrailError(format!(
                "ApplyGuardrail masked {sent} texts into {} outputs",
                outputs.len()
            )));
        }
        // Empty texts were not sent; they stay empty.
        let mut masked = outputs.into_iter();
        let texts = texts
            .iter()
            .map(|t| match t.is_empty() {
                true => String::new(),
                false => masked.next().unwrap_or_default().to_owned(),
            })
            .collect();
        Ok(Checked {
            verdict: GuardrailVerdict::Masked { texts },
            entities,
        })
    }
}

impl Guardrail for BedrockGuardrail {
    fn name(&self) -> &str {
        &self.name
    }

    fn check<'a>(
        &'a self,
        source: GuardrailSource,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Checked, GuardrailError>> {
        Box::pin(self.apply(source, texts))
    }
}

/// A path label as the REST JSON protocol sends it: every byte but the unreserved ones
/// percent-encoded (an ARN's `:` and `/` included).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Serialize)]
struct ApplyRequest<'a> {
    source: &'static str,
    content: Vec<Content<'a>>,
}

#[derive(Serialize)]
struct Content<'a> {
    text: TextBlock<'a>,
}

#[derive(Serialize)]
struct TextBlock<'a> {
    text: &'a str,
}

#[derive(Deserialize)]
struct ApplyResponse {
    action: String,
    #[serde(default)]
    outputs: Vec<Output>,
    #[serde(default)]
    assessments: Vec<Assessment>,
}

#[derive(Deserialize)]
struct Output {
    text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Assessment {
    topic_policy: Option<TopicPolicy>,
    content_policy: Option<Filters>,
    word_policy: Option<WordPolicy>,
    sensitive_information_policy: Option<SensitivePolicy>,
    contextual_grounding_policy: Option<Filters>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TopicPolicy {
    topics: Vec<Acted>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Filters {
    filters: Vec<Acted>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WordPolicy {
    custom_words: Vec<Acted>,
    managed_word_lists: Vec<Acted>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SensitivePolicy {
    pii_entities: Vec<Acted>,
    regexes: Vec<Acted>,
}

/// One finding of a policy: what it did, and for sensitive information its type or name.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Acted {
    action: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
}

fn any_blocked(found: &[Acted]) -> bool {
    found.iter().any(|f| f.action == "BLOCKED")
}

/// Whether any policy of the assessments blocked.
fn blocked(assessments: &[Assessment]) -> bool {
    assessments.iter().any(|a| {
        a.topic_policy
            .as_ref()
            .is_some_and(|p| any_blocked(&p.topics))
            || a.content_policy
                .as_ref()
                .is_some_and(|p| any_blocked(&p.filters))
            || a.word_policy
                .as_ref()
                .is_some_and(|p| any_blocked(&p.custom_words) || any_blocked(&p.managed_word_lists))
            || a.sensitive_information_policy
                .as_ref()
                .is_some_and(|p| any_blocked(&p.pii_entities) || any_blocked(&p.regexes))
            || a.contextual_grounding_policy
                .as_ref()
                .is_some_and(|p| any_blocked(&p.filters))
    })
}

/// The sensitive-information entity types and regex names found, each once, in order.
fn entity_types(assessments: &[Assessment]) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    let found = assessments
        .iter()
        .filter_map(|a| a.sensitive_information_policy.as_ref())
        .flat_map(|p| {
            let pii = p
                .pii_entities
                .iter()
                .map(|e| e.kind.as_deref().unwrap_or("PII"));
            let regexes = p
                .regexes
                .iter()
                .map(|r| r.name.as_deref().unwrap_or("REGEX"));
            pii.chain(regexes)
        });
    for kind in found {
        if !types.iter().any(|t| t == kind) {
            types.push(kind.to_owned());
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_percent_encoded_like_the_sdk_does() {
        assert_eq!(label("abc123"), "abc123");
        assert_eq!(
            label("arn:aws:bedrock:us-east-1:123456789012:guardrail/gr1"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aguardrail%2Fgr1"
        );
        assert_eq!(label("DRAFT"), "DRAFT");
    }

    #[test]
    fn an_answer_is_read_with_its_blocks_and_entities() {
        let answer = r#"{"action":"GUARDRAIL_INTERVENED","outputs":[{"text":"mail {EMAIL}"}],
            "assessments":[{"sensitiveInformationPolicy":{"piiEntities":[
              {"match":"a@b.io","type":"EMAIL","action":"ANONYMIZED","detected":true}],
              "regexes":[{"name":"ticket","match":"T-1","regex":"T-\\d","action":"BLOCKED"}]}},
              {"contentPolicy":{"filters":[{"type":"HATE","confidence":"HIGH","action":"NONE"}]}}],
            "usage":{"topicPolicyUnits":1}}"#;
        let parsed: ApplyResponse = serde_json::from_str(answer).unwrap();
        assert_eq!(parsed.action, "GUARDRAIL_INTERVENED");
        assert_eq!(entity_types(&parsed.assessments), ["EMAIL", "ticket"]);
        assert!(blocked(&parsed.assessments));
        let masked_only = r#"{"action":"GUARDRAIL_INTERVENED","outputs":[],"assessments":[
            {"sensitiveInformationPolicy":{"piiEntities":[{"type":"PHONE","action":"ANONYMIZED"}]}}]}"#;
        let parsed: ApplyResponse = serde_json::from_str(masked_only).unwrap();
        assert!(!blocked(&parsed.assessments));
        assert_eq!(entity_types(&parsed.assessments), ["PHONE"]);
    }

    #[test]
    fn the_request_body_is_bedrocks_shape() {
        let body = ApplyRequest {
            source: "OUTPUT",
            content: vec![Content {
                text: TextBlock { text: "hi" },
            }],
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"source":"OUTPUT","content":[{"text":{"text":"hi"}}]}"#
        );
    }
}
