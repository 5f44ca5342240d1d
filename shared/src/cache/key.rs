//! The cache key: a SHA-256 over the caller's scope, the guardrails that shaped the answer, and
//! every field of the [`ChatRequest`] except those that cannot change the answer (or of the
//! [`EmbeddingRequest`], every field: each one can change the vectors or whose answer it is).
//!
//! The request is hashed through its `Debug` form, so a field added to `ChatRequest` (by any
//! feature) is in the key without a change here: a new field can only make answers miss, never
//! serve one request's answer to another. The fields left out are listed in [`hash_request`];
//! `every_field_is_classified` below fails to compile when `ChatRequest` gains a field, so
//! whoever adds one decides, in one place, whether it may be left out.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use crate::chat::ChatRequest;
use crate::embeddings::EmbeddingRequest;

/// Bumped when the hashed form changes, so old items are never read as new ones.
const KEY_VERSION: &str = "gateway-cache-v1";

/// The hex key of `request` for `scope`, answered under `guardrails` (their names, in order).
/// `request` is only borrowed mutably to set aside, then restore, the fields left out.
pub fn chat_key<'a>(
    scope: &str,
    namespace: Option<&str>,
    guardrails: impl Iterator<Item = &'a str>,
    request: &mut ChatRequest,
) -> String {
    let mut hasher = preamble("chat", scope, namespace, guardrails);
    hash_request(request, &mut hasher);
    hex(&hasher.0.finalize())
}

/// The hex key of an embeddings `request` (its texts as they reach the model, after masking)
/// for `scope`. The call kind is hashed first, so a chat key never equals an embeddings key.
pub fn embedding_key<'a>(
    scope: &str,
    namespace: Option<&str>,
    guardrails: impl Iterator<Item = &'a str>,
    request: &EmbeddingRequest,
) -> String {
    let mut hasher = preamble("embeddings", scope, namespace, guardrails);
    let _ = write!(hasher, "{request:?}");
    hex(&hasher.0.finalize())
}

fn preamble<'a>(
    kind: &str,
    scope: &str,
    namespace: Option<&str>,
    guardrails: impl Iterator<Item = &'a str>,
) -> HashWriter {
    let mut hasher = HashWriter(Sha256::new());
    // Chat keys keep their v1 form (no kind), so answers stored before embeddings were cached
    // are still found.
    if kind == "chat" {
        let _ = write!(hasher, "{KEY_VERSION}\u{0}{scope}\u{0}");
    } else {
        let _ = write!(hasher, "{KEY_VERSION}\u{0}kind={kind}\u{0}{scope}\u{0}");
    }
    if let Some(namespace) = namespace {
        let _ = write!(hasher, "ns={namespace:?}\u{0}");
    }
    for name in guardrails {
        let _ = write!(hasher, "g={name:?}\u{0}");
    }
    hasher
}

/// Hashes every field of `request` but these, which cannot change the answer:
/// `stream` and `include_usage` (a whole answer and a stream are one answer in two shapes: a
/// cached answer is served in either), `metadata` (traces only), and `routing` (retries,
/// timeouts and fallbacks change who answers when one fails, not what an answer says).
fn hash_request(request: &mut ChatRequest, out: &mut HashWriter) {
    let stream = std::mem::take(&mut request.stream);
    let include_usage = std::mem::take(&mut request.include_usage);
    let metadata = request.metadata.take();
    let routing = std::mem::take(&mut request.routing);
    let _ = write!(out, "{request:?}");
    request.stream = stream;
    request.include_usage = include_usage;
    request.metadata = metadata;
    request.routing = routing;
}

/// Feeds formatted text to the hash without building the string.
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ContentBlock, Message, Role};

    fn request(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentBlock::Text(text.into())],
            }],
            ..ChatRequest::default()
        }
    }

    fn key(scope: &str, r: &mut ChatRequest) -> String {
        chat_key(scope, None, std::iter::empty(), r)
    }

    #[test]
    fn what_changes_the_answer_changes_the_key() {
        let base = key("team:a", &mut request("hi"));
        assert_eq!(base.len(), 64);
        assert_eq!(base, key("team:a", &mut request("hi")));
        assert_ne!(base, key("team:b", &mut request("hi")));
        assert_ne!(base, key("team:a", &mut request("hi!")));
        let mut warmer = request("hi");
        warmer.params.temperature = Some(0.5);
        assert_ne!(base, key("team:a", &mut warmer));
        let mut guarded = request("hi");
        assert_ne!(
            base,
            chat_key("team:a", None, ["pii"].into_iter(), &mut guarded)
        );
        assert_ne!(
            base,
            chat_key("team:a", Some("n"), std::iter::empty(), &mut request("hi"))
        );
    }

    #[test]
    fn shape_tracing_and_routing_do_not_and_are_restored() {
        let base = key("team:a", &mut request("hi"));
        let mut streamed = request("hi");
        streamed.stream = true;
        streamed.include_usage = true;
        streamed.metadata = Some(serde_json::json!({"session_id": "s"}));
        streamed.routing.num_retries = Some(3);
        assert_eq!(base, key("team:a", &mut streamed));
        assert!(streamed.stream && streamed.include_usage);
        assert!(streamed.metadata.is_some());
        assert_eq!(streamed.routing.num_retries, Some(3));
    }

    #[test]
    fn embedding_keys_cover_every_field_and_differ_from_chat_keys() {
        use crate::embeddings::InputType;
        let texts = EmbeddingRequest {
            model: "m".into(),
            inputs: vec!["hi".into()],
            ..EmbeddingRequest::default()
        };
        let base = embedding_key("team:a", None, std::iter::empty(), &texts);
        assert_eq!(
            base,
            embedding_key("team:a", None, std::iter::empty(), &texts)
        );
        assert_ne!(base, key("team:a", &mut request("hi")));
        assert_ne!(
            base,
            embedding_key("team:b", None, std::iter::empty(), &texts)
        );
        assert_ne!(
            base,
            embedding_key("team:a", Some("n"), std::iter::empty(), &texts)
        );
        assert_ne!(
            base,
            embedding_key("team:a", None, ["pii"].into_iter(), &texts)
        );
        let variants = [
            EmbeddingRequest {
                inputs: vec!["hi!".into()],
                ..texts.clone()
            },
            EmbeddingRequest {
                inputs: vec!["hi".into(), "hi".into()],
                ..texts.clone()
            },
            EmbeddingRequest {
                model: "n".into(),
                ..texts.clone()
            },
            EmbeddingRequest {
                dimensions: Some(256),
                ..texts.clone()
            },
            EmbeddingRequest {
                input_type: Some(InputType::SearchQuery),
                ..texts.clone()
            },
            EmbeddingRequest {
                user: Some("u".into()),
                ..texts.clone()
            },
        ];
        for variant in &variants {
            assert_ne!(
                base,
                embedding_key("team:a", None, std::iter::empty(), variant)
            );
        }
    }

    /// Fails to compile when `ChatRequest` gains a field: add it below, and to
    /// `hash_request`'s list only if it cannot change the answer.
    #[test]
    fn every_field_is_classified() {
        let ChatRequest {
            model: _,
            system: _,
            messages: _,
            params: _,
            tools: _,
            tool_choice: _,
            user: _,
            guardrails: _,
            system_cache_points: _,
            reasoning: _,
            response_format: _,
            // left out of the key:
            stream: _,
            include_usage: _,
            routing: _,
            metadata: _,
        } = ChatRequest::default();
    }
}
