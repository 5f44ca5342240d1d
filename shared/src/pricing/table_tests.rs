use super::*;

const SONNET_4_5: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const HAIKU_3_5: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
}

/// `id`'s price in USD per 1M tokens: (input, output, cache read, cache write).
fn per_million(id: &str) -> Option<(f64, f64, Option<f64>, Option<f64>)> {
    let p = PriceTable::builtin().price(id)?;
    let m = |x: f64| x * 1e6;
    Some((
        m(p.input_per_token),
        m(p.output_per_token),
        p.cache_read_per_token.map(m),
        p.cache_write_per_token.map(m),
    ))
}

fn assert_price(id: &str, input: f64, output: f64, read: Option<f64>, write: Option<f64>) {
    let (i, o, r, w) = per_million(id).unwrap_or_else(|| panic!("{id} has no price"));
    let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => close(a, b),
        (a, b) => a == b,
    };
    assert!(
        close(i, input) && close(o, output) && same(r, read) && same(w, write),
        "{id}: got {i}/{o}/{r:?}/{w:?}, want {input}/{output}/{read:?}/{write:?}"
    );
}

#[test]
fn builtin_json_parses() {
    let table = PriceTable::parse(BUILTIN_JSON).unwrap();
    assert!(table.models.len() >= 35, "{} models", table.models.len());
    assert!(table.source().contains("us-east-1"));
    assert!(!table.as_of().is_empty() && !table.notes().is_empty());
    assert!(!PriceTable::builtin().is_empty());
}

#[test]
fn known_ids_have_published_prices() {
    // AWS Bedrock pricing page (2025-07-20 transcription): Claude 3 Haiku, 3.5 Haiku with cache,
    // Nova Pro with cache read, Llama 3.3 70B, Llama 4 Maverick.
    assert_price(
        "anthropic.claude-3-haiku-20240307-v1:0",
        0.25,
        1.25,
        None,
        None,
    );
    assert_price(HAIKU_3_5, 0.8, 4.0, Some(0.08), Some(1.0));
    assert_price(
        "anthropic.claude-opus-4-20250514-v1:0",
        15.0,
        75.0,
        Some(1.5),
        Some(18.75),
    );
    assert_price("amazon.nova-pro-v1:0", 0.8, 3.2, Some(0.2), None);
    assert_price("meta.llama3-3-70b-instruct-v1:0", 0.72, 0.72, None, None);
    assert_price(
        "meta.llama4-maverick-17b-instruct-v1:0",
        0.24,
        0.97,
        None,
        None,
    );
    // AWS Price List API, us-east-1 (promptfoo#10593): Titan Text Express, Llama 3.2 11B.
    assert_price("amazon.titan-text-express-v1", 0.2, 0.6, None, None);
    assert_price("meta.llama3-2-11b-instruct-v1:0", 0.16, 0.16, None, None);
    assert_price("mistral.mistral-7b-instruct-v0:2", 0.15, 0.2, None, None);
    // AWS Bedrock pricing page, us-east-1: Titan Text Embeddings V2 $0.00002 and Cohere Embed 3
    // $0.0001 per 1,000 input tokens (LiteLLM's table agrees); embeddings have no output price.
    assert_price("amazon.titan-embed-text-v2:0", 0.02, 0.0, None, None);
    assert_price("cohere.embed-english-v3", 0.1, 0.0, None, None);
    // AWS Price List API, us-east-1 (litellm#42679): Claude Sonnet 4.6 regional (bare id).
    assert_price(
        "anthropic.claude-sonnet-4-6",
        3.3,
        16.5,
        Some(0.33),
        Some(4.125),
    );
}

#[test]
fn geographic_profiles_cost_the_in_region_price() {
    let base = per_million(HAIKU_3_5).unwrap();
    for prefix in ["us", "eu", "apac", "jp", "au", "ca"] {
        assert_eq!(
            per_million(&format!("{prefix}.{HAIKU_3_5}")),
            Some(base),
            "{prefix}."
        );
    }
    // Claude 4.5+: geographic = in-Region = the regional tier, not the global one (litellm#30768).
    assert_price(
        &format!("us.{SONNET_4_5}"),
        3.3,
        16.5,
        Some(0.33),
        Some(4.125),
    );
    assert_price(
        &format!("eu.{SONNET_4_5}"),
        3.3,
        16.5,
        Some(0.33),
        Some(4.125),
    );
    assert_price(SONNET_4_5, 3.3, 16.5, Some(0.33), Some(4.125));
}

#[test]
fn outside_us_profiles_of_region_priced_models_are_unknown() {
    assert!(per_million("us.amazon.nova-pro-v1:0").is_some());
    assert!(per_million("global.amazon.nova-2-lite-v1:0").is_some());
    for prefix in ["eu", "apac", "jp", "au", "ca"] {
        assert_eq!(
            per_million(&format!("{prefix}.amazon.nova-pro-v1:0")),
            None,
            "{prefix}."
        );
    }
}

#[test]
fn global_profiles_take_the_global_tier() {
    // Anthropic list price = AWS global tier (litellm#42679: Sonnet 4.6 global 3.00/15.00).
    assert_price(
        &format!("global.{SONNET_4_5}"),
        3.0,
        15.0,
        Some(0.3),
        Some(3.75),
    );
    assert_price(
        "global.anthropic.claude-sonnet-4-6",
        3.0,
        15.0,
        Some(0.3),
        Some(3.75),
    );
    assert_price(
        "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        1.0,
        5.0,
        Some(0.1),
        Some(1.25),
    );
    // A single-tier model costs the same through a global profile.
    let sonnet_4 = "anthropic.claude-sonnet-4-20250514-v1:0";
    assert_eq!(
        per_million(&format!("global.{sonnet_4}")),
        per_million(sonnet_4)
    );
}

#[test]
fn every_two_tier_model_is_ten_percent_dearer_in_region() {
    for (id, entry) in &PriceTable::builtin().models {
        let Some(global) = entry.global else { continue };
        let regional = entry.regional();
        let ratio = |r: Option<f64>, g: Option<f64>| r.zip(g).map(|(r, g)| r / g);
        for r in [
            Some(regional.input / global.input),
            Some(regional.output / global.output),
            ratio(regional.cache_read, global.cache_read),
            ratio(regional.cache_write, global.cache_write),
        ]
        .into_iter()
        .flatten()
        {
            assert!(close(r, 1.1), "{id}: regional/global = {r}");
        }
    }
}

#[test]
fn arns_price_as_the_id_after_the_last_slash() {
    let arn = format!("arn:aws:bedrock:us-east-1::foundation-model/{HAIKU_3_5}");
    assert_eq!(per_million(&arn), per_million(HAIKU_3_5));
    let profile =
        format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{SONNET_4_5}");
    assert_eq!(
        per_million(&profile),
        per_million(&format!("us.{SONNET_4_5}"))
    );
    let global =
        format!("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/global.{SONNET_4_5}");
    assert_price(&global, 3.0, 15.0, Some(0.3), Some(3.75));
    let app = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";
    assert_eq!(per_million(app), None);
    assert_eq!(
        per_million("arn:aws:bedrock:us-east-1::foundation-model"),
        None
    );
}

#[test]
fn unknown_ids_have_no_price() {
    for id in [
        "",
        "anthropic.claude-unknown-v1:0",
        "us.anthropic.claude-unknown-v1:0",
        "us-gov.anthropic.claude-3-haiku-20240307-v1:0",
        "xx.anthropic.claude-3-haiku-20240307-v1:0",
        "mistral.mistral-large-2402-v1:0",
        "claude-3-haiku",
    ] {
        assert_eq!(PriceTable::builtin().price(id), None, "{id:?}");
    }
}

#[test]
fn bad_tables_are_refused_and_the_fallback_is_empty() {
    let table = |models: &str| {
        format!(r#"{{"source":"s","as_of":"d","profile_prefixes":{{}},"models":{{{models}}}}}"#)
    };
    assert!(PriceTable::parse(&table(r#""m":{"input":1,"output":2}"#)).is_ok());
    assert!(
        PriceTable::parse(&table(r#""e":{"input":1,"output":0,"embedding":true}"#)).is_ok(),
        "an embedding model has no output price"
    );
    for bad in [
        r#""m":{"input":1,"output":0}"#,
        r#""e":{"input":1,"output":2,"embedding":true}"#,
        r#""m":{"input":0,"output":2}"#,
        r#""m":{"input":1,"output":-2}"#,
        r#""m":{"input":1,"output":2,"cache_read":0}"#,
        r#""m":{"input":1,"output":2,"global":{"input":0,"output":1}}"#,
        r#""m":{"input":1}"#,
        r#""m":{"input":1,"output":2,"typo":3}"#,
    ] {
        assert!(PriceTable::parse(&table(bad)).is_err(), "{bad}");
    }
    assert!(PriceTable::parse("{").is_err());
    let empty = load("not json");
    assert!(empty.is_empty());
    assert_eq!(empty.price(HAIKU_3_5), None);
}

#[test]
fn end_of_life_dates_follow_profiles_and_arns() {
    let table = PriceTable::builtin();
    let haiku_3 = NaiveDate::from_ymd_opt(2026, 9, 10);
    for id in [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "us.anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
    ] {
        assert_eq!(table.end_of_life(id), haiku_3, "{id}");
    }
    assert_eq!(
        table.end_of_life("anthropic.claude-3-sonnet-20240229-v1:0"),
        NaiveDate::from_ymd_opt(2026, 7, 30)
    );
    // Today's models have no published end of life; unknown ids and prefixes have none either.
    for id in [
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.amazon.nova-micro-v1:0",
        "xx.anthropic.claude-3-haiku-20240307-v1:0",
        "custom.model-v1",
    ] {
        assert_eq!(table.end_of_life(id), None, "{id}");
    }
}

#[test]
fn a_bad_end_of_life_date_is_refused() {
    let json = r#"{"source": "s", "as_of": "2026-12-07", "profile_prefixes": {},
        "models": {"m": {"input": 1.0, "output": 2.0, "end_of_life": "30/07/2026"}}}"#;
    assert!(matches!(
        PriceTable::parse(json),
        Err(PriceTableError::BadDate(id)) if id == "m"
    ));
}
