//! A guardrail from word lists, in memory: blocks texts with a blocked word and masks others.

use futures_util::future::BoxFuture;

use super::{Checked, Guardrail, GuardrailError, GuardrailSource, GuardrailVerdict};

/// Blocks any text containing one of `blocked` and replaces each of `masked` with `{MASKED}`
/// (both case-insensitive, ASCII).
#[derive(Debug, Clone, Default)]
pub struct WordListGuardrail {
    name: String,
    blocked: Vec<String>,
    masked: Vec<String>,
}

impl WordListGuardrail {
    pub fn new(name: &str, blocked: &[&str], masked: &[&str]) -> Self {
        let lower = |words: &[&str]| words.iter().map(|w| w.to_ascii_lowercase()).collect();
        WordListGuardrail {
            name: name.to_owned(),
            blocked: lower(blocked),
            masked: lower(masked),
        }
    }

    fn verdict(&self, texts: &[String]) -> GuardrailVerdict {
        let lowered: Vec<String> = texts.iter().map(|t| t.to_ascii_lowercase()).collect();
        if lowered
            .iter()
            .any(|text| self.blocked.iter().any(|word| text.contains(word.as_str())))
        {
            return GuardrailVerdict::Blocked;
        }
        let mut changed = false;
        let masked = texts
            .iter()
            .map(|text| {
                let mut out = text.clone();
                for word in &self.masked {
                    if let Some(replaced) = mask(&out, word) {
                        out = replaced;
                        changed = true;
                    }
                }
                out
            })
            .collect();
        if changed {
            GuardrailVerdict::Masked { texts: masked }
        } else {
            GuardrailVerdict::Pass
        }
    }
}

/// `text` with every case-insensitive occurrence of `word` replaced, if there was one.
/// ASCII lower-casing keeps byte offsets, so matches in the lowered copy index the original.
fn mask(text: &str, word: &str) -> Option<String> {
    if word.is_empty() {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(word) {
        out.push_str(&text[last..at]);
        out.push_str("{MASKED}");
        last = at + word.len();
    }
    if last == 0 {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

impl Guardrail for WordListGuardrail {
    fn name(&self) -> &str {
        &self.name
    }

    fn check<'a>(
        &'a self,
        _source: GuardrailSource,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Checked, GuardrailError>> {
        Box::pin(std::future::ready(Ok(self.verdict(texts).into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_masks_or_passes() {
        let g = WordListGuardrail::new("words", &["forbidden"], &["secret"]);
        let texts = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            g.verdict(&texts(&["a FORBIDDEN word"])),
            GuardrailVerdict::Blocked
        );
        assert_eq!(
            g.verdict(&texts(&["my Secret and secret", "plain"])),
            GuardrailVerdict::Masked {
                texts: texts(&["my {MASKED} and {MASKED}", "plain"])
            }
        );
        assert_eq!(g.verdict(&texts(&["hello"])), GuardrailVerdict::Pass);
    }
}
