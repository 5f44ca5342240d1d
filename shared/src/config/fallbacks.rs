//! The one reading of the three fallback lists: which groups a group falls back to after which
//! kind of failure. Routing follows it, limits reserve for what it can reach, reporting asks it.

use super::model::RouterSettings;

/// Which fallback list a failure moves along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackKind {
    /// Any other provider failure or rate limit: `fallbacks`, else `default_fallbacks`.
    General,
    /// The input is longer than the model's context window: `context_window_fallbacks`.
    ContextWindow,
    /// The model (or a `post_call` guardrail) refused the content: `content_policy_fallbacks`.
    ContentPolicy,
}

impl FallbackKind {
    pub const ALL: [FallbackKind; 3] = [
        FallbackKind::General,
        FallbackKind::ContextWindow,
        FallbackKind::ContentPolicy,
    ];
}

impl RouterSettings {
    /// The groups `group` falls back to after a failure of `kind`, in order: the list's entry
    /// for `group`, else its `*` entry; for [`FallbackKind::General`] without either,
    /// `default_fallbacks`. A request's own `fallbacks` replace the general list (the caller's
    /// choice, see `pipeline::route`).
    pub fn fallbacks_for(&self, kind: FallbackKind, group: &str) -> &[String] {
        let list = match kind {
            FallbackKind::General => &self.fallbacks,
            FallbackKind::ContextWindow => &self.context_window_fallbacks,
            FallbackKind::ContentPolicy => &self.content_policy_fallbacks,
        };
        let entry = list
            .iter()
            .find(|(source, _)| source == group)
            .or_else(|| list.iter().find(|(source, _)| source == "*"))
            .map(|(_, targets)| targets.as_slice());
        match (entry, kind) {
            (Some(targets), _) => targets,
            (None, FallbackKind::General) => &self.default_fallbacks,
            (None, _) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(source: &str, targets: &[&str]) -> (String, Vec<String>) {
        let targets = targets.iter().map(|t| (*t).to_owned()).collect();
        (source.to_owned(), targets)
    }

    #[test]
    fn a_groups_own_entry_wins_over_star_and_default() {
        let settings = RouterSettings {
            fallbacks: vec![entry("*", &["star"]), entry("m", &["own"])],
            default_fallbacks: vec!["default".to_owned()],
            ..RouterSettings::default()
        };
        assert_eq!(settings.fallbacks_for(FallbackKind::General, "m"), ["own"]);
        assert_eq!(settings.fallbacks_for(FallbackKind::General, "x"), ["star"]);
    }

    #[test]
    fn default_fallbacks_serve_only_the_general_list() {
        let settings = RouterSettings {
            context_window_fallbacks: vec![entry("m", &["long"])],
            default_fallbacks: vec!["default".to_owned()],
            ..RouterSettings::default()
        };
        assert_eq!(
            settings.fallbacks_for(FallbackKind::General, "m"),
            ["default"]
        );
        assert_eq!(
            settings.fallbacks_for(FallbackKind::ContextWindow, "m"),
            ["long"]
        );
        assert!(settings
            .fallbacks_for(FallbackKind::ContentPolicy, "m")
            .is_empty());
    }

    #[test]
    fn an_empty_entry_means_no_fallbacks() {
        let settings = RouterSettings {
            fallbacks: vec![entry("m", &[]), entry("*", &["star"])],
            default_fallbacks: vec!["default".to_owned()],
            ..RouterSettings::default()
        };
        assert!(settings
            .fallbacks_for(FallbackKind::General, "m")
            .is_empty());
    }
}
