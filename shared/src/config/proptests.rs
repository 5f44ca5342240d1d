//! Property tests for config loading: any text, and the fixtures with any line's value
//! replaced, removed or duplicated, loads or fails with a `ConfigError`, never panics
//! (bounded runs in `cargo test`; failures persist in `proptest-regressions/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::fixture_tests::env;
use super::*;

const SEED: &str = include_str!("../../../config/seed.yaml");
const LOCAL: &str = include_str!("../../../config/local.yaml");

/// Values that stress a field's parser: wrong types, edges of numbers and durations, nulls,
/// environment references, nested collections, YAML tags and anchors.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "~",
            "null",
            "-1",
            "0",
            "1",
            "-0.0",
            "1e309",
            "-1e309",
            ".nan",
            ".inf",
            "-.inf",
            "18446744073709551616",
            "-9223372036854775809",
            "4294967296",
            "true",
            "no",
            "[]",
            "{}",
            "[1, [2, {a: b}]]",
            "{x: 1}",
            "\"\"",
            "os.environ/UNSET_VAR",
            "os.environ/",
            "os.environ/HOME",
            "1h",
            "-5s",
            "0s",
            "99999999999999999999s",
            "1.5ms",
            "2 days",
            "!!binary aGVsbG8=",
            "&a x",
            "*a",
            "!custom 1",
            "|\n  text",
            "'quoted'",
            "bedrock/",
            "bedrock/x",
            "openai/x",
            "/",
            "\u{0}",
            "é",
            "9.99e-400",
        ])
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "[ -~]{0,12}",
    ]
}

/// `yaml` with one edit per `(line, action, value)`: the value after the line's key replaced,
/// the line removed, or the line repeated.
fn mutate(yaml: &str, edits: &[(usize, u8, String)]) -> String {
    let mut lines: Vec<String> = yaml.lines().map(str::to_owned).collect();
    for (line, action, value) in edits {
        if lines.is_empty() {
            break;
        }
        let at = line % lines.len();
        match action % 4 {
            0 | 1 => {
                let kept = lines[at].find(": ").map_or_else(
                    || lines[at].clone(),
                    |colon| lines[at][..colon + 2].to_owned(),
                );
                lines[at] = format!("{kept}{value}");
            }
            2 => {
                lines.remove(at);
            }
            _ => {
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
        }
    }
    lines.join("\n")
}

fn load(yaml: &str) -> Result<GatewayConfig, ConfigError> {
    from_yaml_str(yaml, &env(&[("HOME", "/home/x"), ("EMPTY", "")]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn any_text_loads_or_is_a_config_error(yaml in any::<String>()) {
        let _ = load(&yaml);
    }

    #[test]
    fn mutated_fixtures_load_or_name_what_is_wrong(
        local in any::<bool>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), scalar()), 1..6),
    ) {
        let yaml = mutate(if local { LOCAL } else { SEED }, &edits);
        if let Err(err) = load(&yaml) {
            // Every error says something (and names a path for field errors).
            prop_assert!(!err.to_string().is_empty());
        }
    }
}
