//! Loader rule tests: `os.environ/` resolution, each error and warning rule, secret hygiene.

use super::fixture_tests::{env, load_str, ONE_MODEL};
use super::*;

#[test]
fn os_environ_references_resolve_and_missing_ones_name_path_and_var() {
    let yaml = "model_list:\n  - model_name: m\n    litellm_params:\n      model: bedrock/x.y-v1\n      \
                aws_access_key_id: os.environ/AK\n      aws_secret_access_key: os.environ/SK\n      \
                aws_region_name: os.environ/REGION\n\
                environment_variables:\n  REGION: eu-west-1\n";
    let e = env(&[("AK", "AKIAEXAMPLE"), ("SK", "wJalrXUtnFEMI")]);
    let config = from_yaml_str(yaml, &e).unwrap();
    let d = &config.model_list[0];
    assert_eq!(d.region.as_deref(), Some("eu-west-1"));
    let creds = d.credentials.as_ref().unwrap();
    assert_eq!(creds.secret_access_key.expose(), "wJalrXUtnFEMI");

    let err = from_yaml_str(yaml, &env(&[("AK", "AKIAEXAMPLE")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "model_list[0].litellm_params.aws_secret_access_key: environment variable SK is not set"
    );
}

#[test]
fn unknown_keys_warn_with_full_path() {
    let yaml = format!("{ONE_MODEL}      foo: 1\n    model_info:\n      bar: x\nmystery: true\n");
    let warnings = load_str(&yaml).unwrap().warnings;
    assert!(warnings
        .contains(&"model_list[0].litellm_params.foo is not a known setting; ignored".into()));
    assert!(
        warnings.contains(&"model_list[0].model_info.bar is not a known setting; ignored".into())
    );
    assert!(warnings.contains(&"mystery is not a known setting; ignored".into()));
}

#[test]
fn type_errors_name_the_path() {
    let err = load_str(&format!(
        "{ONE_MODEL}router_settings:\n  num_retries: three\n"
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConfigError::Yaml { .. }));
    assert!(
        text.starts_with("router_settings.num_retries: expected a non-negative"),
        "{text}"
    );
    let err = load_str("model_list:\n  - model_name: m\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("model_list[0]: missing field `litellm_params`"),
        "{err}"
    );
    let err = load_str(&format!("{ONE_MODEL}lex:\n  modle: m\n"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("lex"), "{err}");
    assert!(err.contains("unknown field `modle`"), "{err}");
}

#[test]
fn unsupported_provider_and_bad_values_are_errors() {
    let yaml =
        format!("{ONE_MODEL}  - model_name: g\n    litellm_params:\n      model: openai/gpt-4\n");
    let err = load_str(&yaml).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "model_list[1].litellm_params.model: expected bedrock/<model id>, got \"openai/gpt-4\""
        ),
        "{err}"
    );
    for (bad, path) in [
        ("model_list: []\n", "model_list"),
        (
            "model_list:\n  - model_name: ''\n    litellm_params: {model: bedrock/x}\n",
            "model_list[0].model_name",
        ),
        (
            &format!("{ONE_MODEL}      input_cost_per_token: -1\n"),
            "model_list[0].litellm_params.input_cost_per_token",
        ),
        (
            &format!("{ONE_MODEL}      timeout: 0\n"),
            "model_list[0].litellm_params.timeout",
        ),
        (
            &format!("{ONE_MODEL}router_settings:\n  routing_strategy: fastest\n"),
            "router_settings.routing_strategy",
        ),
        (
            &format!("{ONE_MODEL}router_settings:\n  fallbacks: [{{m: [nope]}}]\n"),
            "router_settings.fallbacks[0].m[0]",
        ),
        (&format!("{ONE_MODEL}lex:\n  model: nope\n"), "lex.model"),
        (
            &format!("{ONE_MODEL}general_settings:\n  master_key: ''\n"),
            "general_settings.master_key",
        ),
    ] {
        let err = load_str(bad).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{path}: ")), "{path}: {err}");
    }
}

#[test]
fn secrets_never_show_in_debug_warnings_or_errors() {
    let yaml = format!(
        "{ONE_MODEL}      aws_access_key_id: AKIAEXAMPLE\n      aws_secret_access_key: os.environ/SK\n      \
         rpm: os.environ/SK\ngeneral_settings:\n  master_key: nope-master-secret\n"
    );
    let e = env(&[("SK", "very-secret-access-key")]);
    let err = from_yaml_str(&yaml, &e).unwrap_err().to_string();
    assert!(err.starts_with("model_list[0].litellm_params.rpm"), "{err}");
    assert!(!err.contains("very-secret-access-key"), "{err}");

    let config = from_yaml_str(&yaml.replace("      rpm: os.environ/SK\n", ""), &e).unwrap();
    let shown = format!("{config:?} {:?}", config.warnings);
    assert!(!shown.contains("very-secret-access-key"), "{shown}");
    assert!(!shown.contains("nope-master-secret"), "{shown}");
    assert!(config
        .warnings
        .iter()
        .any(|w| w.starts_with("general_settings.master_key does not start with \"sk-\"")));
}

#[test]
fn master_key_falls_back_to_litellm_master_key() {
    let config = from_yaml_str(ONE_MODEL, &env(&[("LITELLM_MASTER_KEY", "sk-from-env")])).unwrap();
    assert_eq!(config.master_key.unwrap().expose(), "sk-from-env");
    let err = from_yaml_str(ONE_MODEL, &env(&[("LITELLM_MASTER_KEY", "")])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("LITELLM_MASTER_KEY (environment): "),
        "{err}"
    );
}

#[test]
fn simulated_usage_latency_is_a_benchmark_build_knob() {
    let yaml = format!("{ONE_MODEL}usage:\n  sink: memory\n  simulated_latency_ms: 5\n");
    let loaded = load_str(&yaml);
    if cfg!(feature = "bench-knobs") {
        let usage = loaded.unwrap().usage;
        assert_eq!(
            usage.simulated_latency,
            Some(std::time::Duration::from_millis(5))
        );
    } else {
        let err = loaded.unwrap_err().to_string();
        assert!(err.starts_with("usage.simulated_latency_ms"), "{err}");
        assert!(err.contains("bench-knobs"), "{err}");
    }
}
