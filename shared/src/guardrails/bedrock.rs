//! Bedrock's ApplyGuardrail as a [`Guardrail`]: a configured guardrail id and version, called
//! through a shared `aws-sdk-bedrockruntime` client.
//!
//! Bedrock answers `NONE` or `GUARDRAIL_INTERVENED`. An intervention is a block when any policy
//! says `BLOCKED` (or none says what it did), else a mask: the `outputs` carry the texts with
//! `{EMAIL}`, `{PHONE}`, ... in place, one per text sent.

use std::time::Duration;

use aws_sdk_bedrockruntime::types::{
    GuardrailAction, GuardrailAssessment, GuardrailContentBlock, GuardrailContentSource,
    GuardrailTextBlock,
};
use aws_sdk_bedrockruntime::Client;
use futures_util::future::BoxFuture;

use super::{Checked, Guardrail, GuardrailError, GuardrailSource, GuardrailVerdict};

/// The longest an ApplyGuardrail call may take before it counts as failed.
pub const GUARDRAIL_CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct BedrockGuardrail {
    name: String,
    id: String,
    version: String,
    client: Client,
}

impl BedrockGuardrail {
    pub fn new(name: &str, id: &str, version: &str, client: Client) -> Self {
        BedrockGuardrail {
            name: name.to_owned(),
            id: id.to_owned(),
            version: version.to_owned(),
            client,
        }
    }

    async fn apply(
        &self,
        source: GuardrailSource,
        texts: &[String],
    ) -> Result<Checked, GuardrailError> {
        let mut blocks = Vec::with_capacity(texts.len());
        for text in texts.iter().filter(|t| !t.is_empty()) {
            let block = GuardrailTextBlock::builder()
                .text(text)
                .build()
                .map_err(|err| GuardrailError(err.to_string()))?;
            blocks.push(GuardrailContentBlock::Text(block));
        }
        if blocks.is_empty() {
            return Ok(GuardrailVerdict::Pass.into());
        }
        let source = match source {
            GuardrailSource::Input => GuardrailContentSource::Input,
            GuardrailSource::Output => GuardrailContentSource::Output,
        };
        let output = self
            .client
            .apply_guardrail()
            .guardrail_identifier(&self.id)
            .guardrail_version(&self.version)
            .source(source)
            .set_content(Some(blocks))
            .send()
            .await
            .map_err(|err| {
                GuardrailError(aws_sdk_bedrockruntime::error::DisplayErrorContext(err).to_string())
            })?;
        let entities = entity_types(output.assessments());
        if *output.action() != GuardrailAction::GuardrailIntervened {
            return Ok(Checked {
                verdict: GuardrailVerdict::Pass,
                entities,
            });
        }
        if blocked(output.assessments()) || entities.is_empty() {
            return Ok(Checked {
                verdict: GuardrailVerdict::Blocked,
                entities,
            });
        }
        let outputs: Vec<&str> = output.outputs().iter().filter_map(|o| o.text()).collect();
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

/// Whether any policy of the assessments blocked.
fn blocked(assessments: &[GuardrailAssessment]) -> bool {
    const BLOCKED: &str = "BLOCKED";
    assessments.iter().any(|a| {
        let topics = a
            .topic_policy()
            .is_some_and(|p| p.topics().iter().any(|t| t.action().as_str() == BLOCKED));
        let content = a
            .content_policy()
            .is_some_and(|p| p.filters().iter().any(|f| f.action().as_str() == BLOCKED));
        let words = a.word_policy().is_some_and(|p| {
            p.custom_words()
                .iter()
                .any(|w| w.action().as_str() == BLOCKED)
                || p.managed_word_lists()
                    .iter()
                    .any(|w| w.action().as_str() == BLOCKED)
        });
        let sensitive = a.sensitive_information_policy().is_some_and(|p| {
            p.pii_entities()
                .iter()
                .any(|e| e.action().as_str() == BLOCKED)
                || p.regexes().iter().any(|r| r.action().as_str() == BLOCKED)
        });
        let grounding = a
            .contextual_grounding_policy()
            .is_some_and(|p| p.filters().iter().any(|f| f.action().as_str() == BLOCKED));
        topics || content || words || sensitive || grounding
    })
}

/// The sensitive-information entity types and regex names found, each once, in order.
fn entity_types(assessments: &[GuardrailAssessment]) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    let found = assessments
        .iter()
        .filter_map(GuardrailAssessment::sensitive_information_policy)
        .flat_map(|p| {
            let pii = p.pii_entities().iter().map(|e| e.r#type().as_str());
            let regexes = p.regexes().iter().map(|r| r.name().unwrap_or("REGEX"));
            pii.chain(regexes)
        });
    for kind in found {
        if !types.iter().any(|t| t == kind) {
            types.push(kind.to_owned());
        }
    }
    types
}
