//! Start-up warnings for configured Bedrock models at or near their end of life on Bedrock (the
//! dates of the built-in price table): a model past its end of life answers every call with a
//! ValidationException, so a deployment should hear about it before its users do.

use chrono::NaiveDate;

use super::{GatewayConfig, Provider};
use crate::pricing::PriceTable;

/// How long before a model's end of life the gateway starts warning.
pub const END_OF_LIFE_NOTICE_DAYS: i64 = 30;

impl GatewayConfig {
    /// One warning per configured Bedrock deployment whose model reached its end of life on or
    /// before `today`, or reaches it within [`END_OF_LIFE_NOTICE_DAYS`]. Model ids and dates only.
    pub fn end_of_life_warnings(&self, today: NaiveDate) -> Vec<String> {
        let table = PriceTable::builtin();
        self.model_list
            .iter()
            .filter(|d| d.provider == Provider::Bedrock)
            .filter_map(|d| {
                let end = table.end_of_life(&d.model_id)?;
                let days = (end - today).num_days();
                let when = if days <= 0 {
                    format!("reached its end of life on Bedrock on {end}: every call fails")
                } else if days <= END_OF_LIFE_NOTICE_DAYS {
                    format!("reaches its end of life on Bedrock on {end} (in {days} days)")
                } else {
                    return None;
                };
                Some(format!(
                    "model_list: {} ({}) {when}; move the group to a current model",
                    d.model_name, d.model_id
                ))
            })
            .collect()
    }
}

/// Today's date (UTC) from the system clock; the start-up warnings' `today`.
pub fn today_utc() -> NaiveDate {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(0), 0)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Environment;

    fn config(yaml: &str) -> GatewayConfig {
        crate::config::from_yaml_str(
            yaml,
            &Environment::from_pairs(Vec::<(String, String)>::new()),
        )
        .unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_seed_config_loads_and_warns_for_its_retired_models() {
        let seed = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/seed.yaml"),
        )
        .unwrap();
        let config = config(&seed);
        let warnings = config.end_of_life_warnings(day(2026, 12, 7));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with(
            "model_list: claude-3-sonnet (anthropic.claude-3-sonnet-20240229-v1:0) reached its end of life on Bedrock on 2026-07-30"
        ), "{warnings:?}");
        assert!(warnings[1].contains("claude-3-haiku") && warnings[1].contains("2026-09-10"));
        // Before the notice window: nothing; inside it: the days left.
        assert!(config.end_of_life_warnings(day(2026, 6, 1)).is_empty());
        let soon = config.end_of_life_warnings(day(2026, 7, 20));
        assert_eq!(soon.len(), 1, "{soon:?}");
        assert!(soon[0].contains("on 2026-07-30 (in 10 days)"), "{soon:?}");
    }

    #[test]
    fn current_models_and_profiles_do_not_warn() {
        let config = config(
            "model_list:\n  - model_name: a\n    litellm_params:\n      model: bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0\n  - model_name: b\n    litellm_params:\n      model: bedrock/us.anthropic.claude-3-haiku-20240307-v1:0\n",
        );
        let warnings = config.end_of_life_warnings(day(2026, 12, 7));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("model_list: b "), "{warnings:?}");
    }

    #[test]
    fn the_clock_gives_a_plausible_date() {
        assert!(today_utc() > day(2025, 1, 1));
    }
}
