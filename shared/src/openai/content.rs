//! Message `content`: a plain string or a list of typed parts (text, image_url, file), each
//! of which may carry Anthropic's `cache_control`.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::request::CacheControl;

/// Message content as sent: a string, or parts. Deserialized by hand so a wrong shape gets a
/// message that says what is expected, not serde's "did not match any variant".
#[derive(Debug)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One part of a multi-part message, and whether a cache point follows it.
#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(flatten)]
    pub kind: PartKind,
    #[serde(default)]
    pub cache_control: Option<CacheControl>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PartKind {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
    InputAudio {},
    File { file: FilePart },
}

#[derive(Debug, Deserialize)]
pub struct ImageUrl {
    pub url: String,
}

/// OpenAI's `file` part: inline `file_data` (a data URL) with a `filename`; `file_id` (an
/// uploaded file) is not available here.
#[derive(Debug, Deserialize)]
pub struct FilePart {
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    /// LiteLLM's explicit mime type, when `file_data` is bare base64.
    #[serde(default)]
    pub format: Option<String>,
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = MessageContent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MessageContent, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(MessageContent::Parts(parts))
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}
