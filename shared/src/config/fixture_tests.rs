//! End-to-end loader tests: the seed and local fixtures and a config using every section.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

pub(super) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../config")
        .join(name)
}

pub(super) fn env(pairs: &[(&str, &str)]) -> Environment {
    Environment::from_pairs(pairs.iter().copied())
}

pub(super) fn load_str(yaml: &str) -> Result<GatewayConfig, ConfigError> {
    from_yaml_str(yaml, &env(&[]))
}

pub(super) const ONE_MODEL: &str =
    "model_list:\n  - model_name: m\n    litellm_params:\n      model: bedrock/x.y-v1\n";

#[test]
fn seed_config_loads_unchanged() {
    let config = load(&fixture("seed.yaml"), &env(&[])).unwrap();
    assert_eq!(
        config.model_groups(),
        ["claude-3-sonnet", "claude-3-haiku", "titan-text"]
    );
    let ids: Vec<&str> = config
        .model_list
        .iter()
        .map(|d| d.model_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "anthropic.claude-3-sonnet-20240229-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.titan-text-express-v1",
        ]
    );
    assert_eq!(config.model_list[1].deployment_id, "claude-3-haiku-1");
    assert!(config
        .model_list
        .iter()
        .all(|d| d.provider == Provider::Bedrock));
    assert_eq!(
        config.router.routing_strategy,
        RoutingStrategy::CostBasedRouting
    );
    assert_eq!(config.router.num_retries, 3);
    assert!(config.master_key.is_none());
    // Routing, retries and fallbacks are applied: the seed's config loads without a warning.
    assert_eq!(config.warnings, Vec::<String>::new());
}

#[test]
fn local_config_loads_with_master_key_costs_and_lex() {
    let e = env(&[("LITELLM_MASTER_KEY", "sk-local-dev")]);
    let config = load(&fixture("local.yaml"), &e).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_eq!(config.master_key.as_ref().unwrap().expose(), "sk-local-dev");
    let haiku = config.deployments("claude-3-haiku").next().unwrap();
    assert_eq!(haiku.region.as_deref(), Some("us-east-1"));
    assert_eq!(haiku.input_cost_per_token, Some(2.5e-7));
    assert_eq!(haiku.output_cost_per_token, Some(1.25e-6));
    assert_eq!(config.lex.model.as_deref(), Some("claude-3-sonnet"));
    assert_eq!(config.lex.max_history_turns, 6);
    let err = load(&fixture("local.yaml"), &env(&[])).unwrap_err();
    assert!(matches!(err, ConfigError::MissingEnv { ref var, .. } if var == "LITELLM_MASTER_KEY"));
}

#[test]
fn from_environment_needs_gateway_config() {
    let err = GatewayConfig::from_environment(&env(&[])).unwrap_err();
    assert!(err.to_string().contains("GATEWAY_CONFIG"), "{err}");
    let path = fixture("seed.yaml");
    let e = env(&[("GATEWAY_CONFIG", path.to_str().unwrap())]);
    assert_eq!(
        GatewayConfig::from_environment(&e)
            .unwrap()
            .model_list
            .len(),
        3
    );
    let missing = env(&[("GATEWAY_CONFIG", "/nonexistent/config.yaml")]);
    let err = GatewayConfig::from_environment(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err}");
}

#[test]
fn converse_prefix_model_info_and_costs() {
    let yaml = "model_list:\n  - model_name: nova\n    litellm_params:\n      \
                model: bedrock/converse/us.amazon.nova-lite-v1:0\n      timeout: 30\n      \
                input_cost_per_token: 1e-6\n    model_info:\n      id: nova-east\n      \
                input_cost_per_token: 9\n      output_cost_per_token: 4e-6\n      \
                max_tokens: 5000\n      max_input_tokens: 300000\n";
    let config = load_str(yaml).unwrap();
    let d = &config.model_list[0];
    assert_eq!(d.model_id, "us.amazon.nova-lite-v1:0");
    assert_eq!(d.deployment_id, "nova-east");
    assert_eq!(d.timeout, Some(Duration::from_secs(30)));
    assert_eq!(d.input_cost_per_token, Some(1e-6));
    assert_eq!(d.output_cost_per_token, Some(4e-6));
    assert_eq!(d.max_output_tokens, Some(5000));
    assert_eq!(d.max_input_tokens, Some(300000));
}

#[test]
fn router_settings_guardrails_and_litellm_settings() {
    let yaml = format!(
        "{ONE_MODEL}  - model_name: n\n    litellm_params: {{model: bedrock/z}}\n\
         litellm_settings:\n  num_retries: 2\n  request_timeout: 60\n  fallbacks: [{{m: [n]}}]\n  drop_params: true\n\
         router_settings:\n  cooldown_time: 30\n  allowed_fails: 2\n\
         guardrails:\n  - guardrail_name: g1\n    litellm_params:\n      guardrail: bedrock\n      \
         mode: [pre_call, post_call]\n      guardrailIdentifier: abc123\n      guardrailVersion: 1\n      default_on: true\n"
    );
    let config = load_str(&yaml).unwrap();
    let r = &config.router;
    assert_eq!(
        (r.num_retries, r.timeout),
        (2, Some(Duration::from_secs(60)))
    );
    assert_eq!(r.fallbacks, vec![("m".to_owned(), vec!["n".to_owned()])]);
    assert_eq!(
        (r.allowed_fails, r.cooldown_time),
        (Some(2), Some(Duration::from_secs(30)))
    );
    let g = &config.guardrails[0];
    assert_eq!(
        (g.guardrail_id.as_str(), g.version.as_str()),
        ("abc123", "1")
    );
    assert_eq!(g.modes, [GuardrailMode::PreCall, GuardrailMode::PostCall]);
    assert!(g.default_on && !g.mask_request_content);
    assert!(!g.fail_open && !g.disable_exception_on_block && g.region.is_none());
    assert!(
        !config.warnings.iter().any(|w| w.contains("guardrail")),
        "{:?}",
        config.warnings
    );
    // `drop_params` is applied now: no warning, and the router settings carry it.
    assert!(
        !config.warnings.iter().any(|w| w.contains("drop_params")),
        "{:?}",
        config.warnings
    );
    assert!(r.drop_params.all);
    assert!(
        !config
            .warnings
            .iter()
            .any(|w| w.contains("retries") || w.contains("fallbacks")),
        "{:?}",
        config.warnings
    );
    let bad = yaml.replace("guardrail: bedrock", "guardrail: aporia");
    let err = load_str(&bad).unwrap_err().to_string();
    assert!(
        err.starts_with("guardrails[0].litellm_params.guardrail: "),
        "{err}"
    );
}

#[test]
fn guardrail_settings_are_strict_and_attach_to_deployments() {
    let guardrail = "guardrails:\n  - guardrail_name: pii\n    litellm_params:\n      guardrail: bedrock\n      \
         mode: during_call\n      guardrailIdentifier: g\n      guardrailVersion: DRAFT\n      \
         aws_region_name: eu-west-1\n      aws_bedrock_runtime_endpoint: http://127.0.0.1:9\n      \
         mask_response_content: true\n      disable_exception_on_block: true\n      fail_open: true\n";
    let model =
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: bedrock/x\n      \
         guardrails: [pii]\n";
    let config = load_str(&format!("{model}{guardrail}")).unwrap();
    let g = &config.guardrails[0];
    assert_eq!(g.modes, [GuardrailMode::DuringCall]);
    assert!(g.mask_response_content && g.disable_exception_on_block && g.fail_open);
    assert_eq!(
        (g.region.as_deref(), g.endpoint_url.as_deref()),
        (Some("eu-west-1"), Some("http://127.0.0.1:9"))
    );
    assert_eq!(config.model_list[0].guardrails, ["pii"]);
    assert!(
        config.warnings.iter().any(|w| w.contains("fails open")),
        "{:?}",
        config.warnings
    );
    let err = |yaml: String| load_str(&yaml).unwrap_err().to_string();
    let typo = guardrail.replace("mask_response_content", "mask_response_contnet");
    assert_eq!(
        err(format!("{model}{typo}")),
        "guardrails[0].litellm_params.mask_response_contnet: unknown guardrail setting"
    );
    let unknown = model.replace("[pii]", "[pii, other]");
    assert!(err(format!("{unknown}{guardrail}"))
        .starts_with("model_list[0].litellm_params.guardrails[1]: no guardrail named \"other\""),);
    let bad_mode = guardrail.replace("mode: during_call", "mode: logging_only");
    assert!(err(format!("{model}{bad_mode}")).starts_with("guardrails[0].litellm_params.mode: "));
    let half_credentials = guardrail.replace("fail_open: true", "aws_access_key_id: AKIA");
    assert!(err(format!("{model}{half_credentials}")).starts_with("guardrails[0].litellm_params: "));
}

#[test]
fn routing_settings_load_as_litellm_spells_them() {
    let yaml = format!(
        "{ONE_MODEL}  - model_name: n\n    litellm_params: {{model: bedrock/z, weight: 3, rpm: 10}}\n\
         router_settings:\n  retry_after: 0.5\n  max_fallbacks: 2\n  default_fallbacks: [n]\n  \
         retry_policy: {{RateLimitErrorRetries: 4, BadRequestErrorRetries: 0}}\n"
    );
    let config = load_str(&yaml).unwrap();
    let r = &config.router;
    assert_eq!(r.retry_after, Some(Duration::from_millis(500)));
    assert_eq!(
        (r.max_fallbacks, r.default_fallbacks.clone()),
        (2, vec!["n".to_owned()])
    );
    assert_eq!(
        (r.retry_policy.rate_limit, r.retry_policy.bad_request),
        (Some(4), Some(0))
    );
    assert_eq!(r.retry_policy.timeout, None);
    assert_eq!(
        (config.model_list[1].weight, config.model_list[1].rpm),
        (Some(3.0), Some(10))
    );
    assert_eq!(config.warnings, Vec::<String>::new());
    let unknown = yaml.replace("RateLimitErrorRetries", "SlowErrorRetries");
    let err = load_str(&unknown).unwrap_err().to_string();
    assert!(
        err.starts_with("router_settings.retry_policy.SlowErrorRetries: unknown key"),
        "{err}"
    );
    let missing = yaml.replace("default_fallbacks: [n]", "default_fallbacks: [ghost]");
    let err = load_str(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with("router_settings.default_fallbacks[0]"),
        "{err}"
    );
    let weightless = yaml.replace("weight: 3", "weight: 0");
    assert!(load_str(&weightless)
        .unwrap_err()
        .to_string()
        .contains("weight"));
}
