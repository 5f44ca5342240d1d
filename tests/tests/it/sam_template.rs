//! `template.yaml` against the code: the handler binaries exist, every environment variable the
//! code reads is set by the template (or is on the short list of optional ones, with the reason),
//! the deployed config loads with the template's values, the IAM policy names exactly the
//! configured models, the table is `shared/src/store/table.json`'s, and the Lex bot is wired to
//! its function. (`scripts/check-template.sh` adds cfn-lint, `sam validate --lint`, the transformed
//! template's Function URL permissions and `sam build`.)
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use gateway::config::GatewayConfig;
use gateway::env::Environment;
use gateway::http::serve::RunMode;
use serde_yaml_ng::Value;

/// Variables the code reads that the template leaves alone on purpose.
const OPTIONAL: &[(&str, &str)] = &[
    ("AWS_LAMBDA_RUNTIME_API", "set by Lambda itself"),
    ("AWS_LAMBDA_FUNCTION_NAME", "set by Lambda itself"),
    ("AWS_REGION", "set by Lambda itself"),
    ("AWS_DEFAULT_REGION", "set by Lambda itself"),
    ("PORT", "local server only"),
    ("HOST", "local server only"),
    (
        "LITELLM_MASTER_KEY",
        "local alternative to the Secrets Manager master key",
    ),
    ("GATEWAY_BEDROCK_WARM_UP", "`off` disables the init warm-up"),
    (
        "GATEWAY_STORE_TIMEOUT_SECS",
        "the store deadline's default (1.5 s) fits Lambda; tests on a slow moto raise it",
    ),
    ("AWS_ENDPOINT_URL", "tests point the SDK at local fakes"),
    (
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "tests point the SDK at local fakes",
    ),
    (
        "AWS_ENDPOINT_URL_DYNAMODB",
        "tests point the SDK at moto_server",
    ),
    (
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "tests point the SDK at moto_server",
    ),
    (
        "AWS_ACCESS_KEY_ID",
        "set by Lambda itself (the function's role)",
    ),
    (
        "AWS_SECRET_ACCESS_KEY",
        "set by Lambda itself (the function's role)",
    ),
    (
        "AWS_SESSION_TOKEN",
        "set by Lambda itself (the function's role)",
    ),
    (
        "GATEWAY_CREATE_TABLES",
        "local runs only: the template creates the table",
    ),
    (
        "GATEWAY_EVAL_KEY",
        "gateway-admin evaluate only: the key an offline evaluation runs with",
    ),
    ("GATEWAY_KEY_CACHE_TTL_SECS", "default 10 s (README: keys)"),
    (
        "GATEWAY_LIMIT_LEASE_SECS",
        "default 30 s leases; 0 = a transaction per request (README: Leases)",
    ),
    (
        "GATEWAY_MASTER_KEY_REFRESH_SECS",
        "default 300 s (README: keys)",
    ),
    (
        "GATEWAY_MASTER_KEY_GRACE_SECS",
        "default 3600 s (README: keys)",
    ),
    (
        "GATEWAY_RESERVATION_TTL_SECS",
        "default 900 s (README: keys)",
    ),
    (
        "GATEWAY_METRICS",
        "EMF is on in Lambda by default; `off` disables it",
    ),
    (
        "PHOENIX_COLLECTOR_ENDPOINT",
        "alternative to PHOENIX_COLLECTOR_HTTP_ENDPOINT",
    ),
    ("PHOENIX_EXPORT_TIMEOUT_MS", "default 5000 ms"),
    (
        "PHOENIX_API_KEY",
        "the key itself, for local runs; the template sets PHOENIX_API_KEY_SECRET_ID",
    ),
    (
        "GATEWAY_ORIGIN_VERIFY_SECRET",
        "the value itself, for local runs; the template sets GATEWAY_ORIGIN_VERIFY_SECRET_ID",
    ),
    (
        "OPENINFERENCE_HIDE_INPUTS",
        "OpenInference switch, off by default",
    ),
    (
        "OPENINFERENCE_HIDE_OUTPUTS",
        "OpenInference switch, off by default",
    ),
];

/// The scheduled evaluation's settings: its function sets them all (checked below).
const SCHEDULED_EVALUATION_VARS: &[&str] = &[
    gateway::evaluation::scheduled::DATASET_VAR,
    gateway::evaluation::scheduled::MODELS_VAR,
    gateway::evaluation::scheduled::EVALUATORS_VAR,
    gateway::evaluation::scheduled::JUDGE_VAR,
];

/// Binaries of the function packages that no function runs: the admin command line.
const NOT_DEPLOYED: &[&str] = &["gateway-admin"];

/// Variables the contract between the branches names; the template sets them all, for both
/// chat and Lex, whether or not this branch's code reads them yet.
const CONTRACT: &[&str] = &[
    "GATEWAY_CONFIG",
    "GATEWAY_TABLE_NAME",
    "GATEWAY_MASTER_KEY_SECRET_ID",
    "GATEWAY_GUARDRAIL_ID",
    "GATEWAY_GUARDRAIL_VERSION",
    "GATEWAY_METRICS_NAMESPACE",
    "PHOENIX_COLLECTOR_HTTP_ENDPOINT",
    "PHOENIX_PROJECT_NAME",
    "PHOENIX_API_KEY_SECRET_ID",
    "RUST_LOG",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn template() -> Value {
    let text = fs::read_to_string(root().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// A value with its CloudFormation tag (`!Ref`, `!Sub`, ...) taken off.
fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => untag(&tagged.value),
        other => other,
    }
}

/// `Some(tag)` for a tagged value (`"!Ref"`).
fn tag(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => Some(tagged.tag.to_string()),
        _ => None,
    }
}

fn get<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |v, key| {
        let next = &untag(v)[key];
        assert!(!next.is_null(), "template: no `{key}` in `{path}`");
        next
    })
}

fn resources(t: &Value) -> &serde_yaml_ng::Mapping {
    get(t, "Resources").as_mapping().unwrap()
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    &resources(t)[name]
}

fn functions(t: &Value) -> Vec<(String, &Value)> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, r)| (name.as_str().unwrap().to_owned(), r))
        .collect()
}

/// Name → value of a function's variables: the Globals' merged with its own.
fn variables(t: &Value, function: &str) -> BTreeMap<String, Value> {
    let mut vars = BTreeMap::new();
    let global = get(t, "Globals.Function.Environment.Variables");
    let own = &resource(t, function)["Properties"]["Environment"]["Variables"];
    for map in [global, own] {
        if let Some(map) = untag(map).as_mapping() {
            for (k, v) in map {
                vars.insert(k.as_str().unwrap().to_owned(), v.clone());
            }
        }
    }
    vars
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_var_name(s: &str) -> bool {
    s.len() > 1
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The quoted string right after each occurrence of `marker` in `text`.
fn quoted_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let rest = rest.trim_start().strip_prefix('"')?;
            rest.split('"').next()
        })
        .collect()
}

/// Every variable the functions' code reads: `env.get("NAME")` and `const *_VAR: &str = "NAME"`,
/// outside test code, in `shared/src` and `functions/*/src`.
fn variables_read_by_code() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("shared/src"), &mut files);
    for entry in fs::read_dir(root().join("functions")).unwrap() {
        rust_files(&entry.unwrap().path().join("src"), &mut files);
    }
    let mut names = BTreeSet::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy();
        let inside = file.strip_prefix(root()).unwrap();
        if name.ends_with("_tests.rs") || inside.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        // Inline test modules sit at the end of a file.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let mut found = Vec::new();
        let reads_env = code.contains("Environment");
        for line in code.lines().map(str::trim) {
            // `const X_VAR: &str = "NAME"`, and any `&str` constant in a file that reads an
            // Environment (`const PHOENIX_API_KEY: &str = "PHOENIX_API_KEY"`).
            if line.contains("const ")
                && (line.contains("_VAR: &str") || (reads_env && line.contains(": &str =")))
            {
                found.extend(quoted_after(line, "="));
            }
        }
        // `env.get("A")`, `.or_else(|| env.get("B"))` and `env\n.get("C")` on an Environment.
        if code.contains("Environment") {
            found.extend(quoted_after(code, ".get("));
        }
        names.extend(
            found
                .into_iter()
                .filter(|n| is_var_name(n))
                .map(str::to_owned),
        );
    }
    names
}

#[test]
fn the_scan_finds_the_variables_known_to_be_read() {
    // Guards the scan itself: these are read today, in different ways.
    let read = variables_read_by_code();
    for name in [
        "GATEWAY_CONFIG",
        "GATEWAY_LAMBDA_MODE",
        "RUST_LOG",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "LITELLM_MASTER_KEY",
        "GATEWAY_ORIGIN_VERIFY_SECRET",
        "GATEWAY_ORIGIN_VERIFY_SECRET_ID",
        "GATEWAY_TABLE_NAME",
        "GATEWAY_MASTER_KEY_SECRET_ID",
        "PHOENIX_API_KEY",
        "PHOENIX_API_KEY_SECRET_ID",
        "GATEWAY_METRICS_NAMESPACE",
    ] {
        assert!(read.contains(name), "scan missed {name}: {read:?}");
    }
}

#[test]
fn every_variable_the_code_reads_is_set_or_optional() {
    let t = template();
    let optional: BTreeMap<_, _> = OPTIONAL.iter().copied().collect();
    let read = variables_read_by_code();
    for (function, _) in functions(&t) {
        let set = variables(&t, &function);
        for name in &read {
            assert!(
                set.contains_key(name) || optional.contains_key(name.as_str())
                    // chat-only and scheduled-evaluation-only settings, set where they matter
                    // (checked below)
                    || ["GATEWAY_LAMBDA_MODE", "GATEWAY_ORIGIN_VERIFY_SECRET_ID"].contains(&name.as_str())
                    || SCHEDULED_EVALUATION_VARS.contains(&name.as_str()),
                "{function}: the code reads {name}, which the template does not set \
                 (set it, or add it to OPTIONAL with the reason)"
            );
        }
        for name in CONTRACT {
            assert!(set.contains_key(*name), "{function}: {name} is not set");
        }
    }
    for name in optional.keys() {
        assert!(
            read.contains(*name),
            "OPTIONAL lists {name}, which no code reads any more"
        );
    }
}

#[test]
fn chat_functions_run_in_the_mode_their_caller_needs() {
    let t = template();
    for (function, mode) in [
        ("ChatFunction", RunMode::LambdaStreaming),
        ("ChatAlbFunction", RunMode::LambdaBuffered),
    ] {
        let vars = variables(&t, function);
        let value = vars["GATEWAY_LAMBDA_MODE"].as_str().unwrap().to_owned();
        let env = Environment::from_pairs([
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001".to_owned()),
            ("GATEWAY_LAMBDA_MODE", value),
        ]);
        assert_eq!(RunMode::from_env(&env).unwrap(), mode, "{function}");
    }
    let url = get(resource(&t, "ChatFunction"), "Properties.FunctionUrlConfig");
    assert_eq!(untag(&url["InvokeMode"]), "RESPONSE_STREAM");
    assert!(variables(&t, "ChatFunction").contains_key("GATEWAY_ORIGIN_VERIFY_SECRET_ID"));
    assert!(!variables(&t, "ChatAlbFunction").contains_key("GATEWAY_ORIGIN_VERIFY_SECRET_ID"));
}

#[test]
fn handler_binaries_are_workspace_binaries() {
    let t = template();
    assert_eq!(get(&t, "Globals.Function.Runtime"), "provided.al2023");
    assert_eq!(get(&t, "Globals.Function.Handler"), "bootstrap");
    let workspace = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    // Every binary of the function packages: the package's own (src/main.rs) and its [[bin]]s.
    let mut binaries = BTreeSet::new();
    for entry in fs::read_dir(root().join("functions")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let member = format!(
            "\"functions/{}\"",
            dir.file_name().unwrap().to_string_lossy()
        );
        if workspace.contains(&member) && dir.join("src/main.rs").is_file() {
            binaries.extend(
                quoted_after(&manifest, "name =")
                    .iter()
                    .map(|s| s.to_string()),
            );
            for path in quoted_after(&manifest, "path =") {
                assert!(dir.join(path).is_file(), "{}: no {path}", dir.display());
            }
        }
    }
    for admin in NOT_DEPLOYED {
        assert!(binaries.remove(*admin), "no binary {admin}: {binaries:?}");
    }
    let mut used = BTreeSet::new();
    for (function, r) in functions(&t) {
        assert_eq!(
            r["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{function}"
        );
        let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        assert!(
            binaries.contains(binary),
            "{function}: binary {binary} is not one of the workspace's {binaries:?}"
        );
        used.insert(binary.to_owned());
    }
    assert_eq!(used, binaries, "every function binary is deployed");
    assert!(used.contains("evaluate-scheduled"), "{used:?}");
}

#[test]
fn the_scheduled_evaluation_runs_its_binary_on_its_schedule_with_the_gateways_role() {
    let t = template();
    let function = resource(&t, "ScheduledEvaluationFunction");
    assert_eq!(function["Condition"], "HasScheduledEvaluation");
    let condition = format!("{:?}", get(&t, "Conditions.HasScheduledEvaluation"));
    assert!(
        condition.contains("ScheduledEvaluationDataset"),
        "{condition}"
    );
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"],
        "evaluate-scheduled"
    );
    let props = get(function, "Properties");
    // The gateway's role: the statements the pipeline's calls need (models, guardrail, table,
    // master key, Phoenix key), which the tests above check against the code.
    assert_eq!(strings(&props["Role"]), ["GatewayFunctionRole.Arn"]);
    assert!(number(&props["Timeout"]) <= 900);
    assert_eq!(
        number(&props["EventInvokeConfig"]["MaximumRetryAttempts"]),
        0
    );
    // Its log group is one the role's Logs statement covers (`${AWS::StackName}-*`).
    let group = resource(&t, "ScheduledEvaluationLogGroup");
    assert_eq!(group["Condition"], "HasScheduledEvaluation");
    assert!(strings(&group["Properties"]["LogGroupName"])[0]
        .starts_with("/aws/lambda/${AWS::StackName}-"));
    assert_eq!(
        strings(&props["LoggingConfig"]["LogGroup"]),
        ["ScheduledEvaluationLogGroup"]
    );
    let events = props["Events"].as_mapping().unwrap();
    assert_eq!(events.len(), 1);
    let (_, event) = events.iter().next().unwrap();
    assert_eq!(event["Type"], "Schedule");
    assert_eq!(
        strings(&event["Properties"]["Schedule"]),
        ["ScheduledEvaluationSchedule"]
    );
    // Each setting the code reads comes from its parameter.
    let vars = variables(&t, "ScheduledEvaluationFunction");
    for (name, parameter) in SCHEDULED_EVALUATION_VARS.iter().zip([
        "ScheduledEvaluationDataset",
        "ScheduledEvaluationModels",
        "ScheduledEvaluationEvaluators",
        "ScheduledEvaluationJudge",
    ]) {
        assert_eq!(strings(&vars[*name]), [parameter], "{name}");
        get(&t, &format!("Parameters.{parameter}"));
    }
    // Off by default.
    assert_eq!(get(&t, "Parameters.ScheduledEvaluationDataset.Default"), "");
    // The alarm: the metric the code writes, in the gateway's namespace, off by default.
    let alarm = resource(&t, "ScheduledEvaluationAlarm");
    assert_eq!(alarm["Condition"], "HasScheduledEvaluationAlarm");
    let alarm = get(alarm, "Properties");
    assert_eq!(
        alarm["MetricName"],
        gateway::evaluation::scheduled::METRIC_NAME
    );
    assert_eq!(strings(&alarm["Namespace"]), ["MetricsNamespace"]);
    assert_eq!(alarm["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(
        strings(&alarm["Threshold"]),
        ["ScheduledEvaluationAlarmThreshold"]
    );
    assert_eq!(
        number(get(
            &t,
            "Parameters.ScheduledEvaluationAlarmThreshold.Default"
        )),
        0
    );
    // A run that fails as a whole (no score to fall) alarms too.
    let errors = resource(&t, "ScheduledEvaluationErrorAlarm");
    assert_eq!(errors["Condition"], "HasScheduledEvaluationAlarm");
    let errors = get(errors, "Properties");
    assert_eq!(errors["Namespace"], "AWS/Lambda");
    assert_eq!(errors["MetricName"], "Errors");
    assert_eq!(
        strings(&errors["Dimensions"][0]["Value"]),
        ["ScheduledEvaluationFunction"]
    );
    let alarm_condition = format!("{:?}", get(&t, "Conditions.HasScheduledEvaluationAlarm"));
    assert!(
        alarm_condition.contains("HasScheduledEvaluation")
            && alarm_condition.contains("ScheduledEvaluationAlarmThreshold"),
        "{alarm_condition}"
    );
}

/// The config the functions read, loaded as they load it: `/opt/X` is `X` of the layer's folder.
#[test]
fn the_config_layer_delivers_a_config_that_loads_with_the_template_values() {
    let t = template();
    let layers = get(&t, "Globals.Function.Layers").as_sequence().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(tag(&layers[0]).as_deref(), Some("!Ref"));
    let layer_name = untag(&layers[0]).as_str().unwrap();
    let layer = resource(&t, layer_name);
    assert_eq!(layer["Type"], "AWS::Serverless::LayerVersion");
    let folder = root().join(layer["Properties"]["ContentUri"].as_str().unwrap());

    let vars = variables(&t, "LexFunction");
    let in_lambda = vars["GATEWAY_CONFIG"].as_str().unwrap();
    let file = folder.join(in_lambda.strip_prefix("/opt/").unwrap());
    assert!(file.is_file(), "{} is not in the layer", file.display());

    // Every os.environ/ reference of the config is a variable the template sets.
    let text = fs::read_to_string(&file).unwrap();
    for reference in text.split("os.environ/").skip(1) {
        let name: String = reference
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            vars.contains_key(&name),
            "config reads os.environ/{name}, not set"
        );
    }

    let mut pairs: Vec<(String, String)> = vars
        .keys()
        .map(|name| (name.clone(), format!("value-of-{name}")))
        .collect();
    pairs.push(("GATEWAY_CONFIG".into(), file.display().to_string()));
    pairs.push(("AWS_REGION".into(), "us-east-1".into()));
    let config = GatewayConfig::from_environment(&Environment::from_pairs(pairs)).unwrap();
    let guardrail = &config.guardrails[0];
    assert_eq!(guardrail.guardrail_id, "value-of-GATEWAY_GUARDRAIL_ID");
    assert_eq!(guardrail.version, "value-of-GATEWAY_GUARDRAIL_VERSION");
    assert!(config.model_list.iter().all(|d| d.endpoint_url.is_none()));
}

fn statement<'a>(t: &'a Value, sid: &str) -> &'a Value {
    let policies = get(resource(t, "GatewayFunctionRole"), "Properties.Policies");
    policies
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap())
        // A conditional statement is `!If [condition, statement, !Ref AWS::NoValue]`.
        .map(|s| match (tag(s).as_deref(), untag(s)) {
            (Some("!If"), Value::Sequence(parts)) => &parts[1],
            _ => s,
        })
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

fn strings(value: &Value) -> Vec<String> {
    match untag(value) {
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![format!("{other:?}")],
    }
}

/// The ARNs (as the template's `!Sub` strings) Bedrock authorizes for one configured model id:
/// a bare model id is the foundation model in the stack's Region; an inference profile is the
/// profile in the stack's Region plus its foundation model in every destination Region of
/// `deploy/inference_profiles.json`, or, for `global.`, in the stack's Region and Region-less.
fn arns_bedrock_authorizes(model_id: &str, profiles: &serde_json::Value) -> BTreeSet<String> {
    let fm = |region: &str, id: &str| {
        format!("arn:${{AWS::Partition}}:bedrock:{region}::foundation-model/{id}")
    };
    let global = profiles["global_prefix"].as_str().unwrap();
    let mut arns = BTreeSet::new();
    match model_id.split_once('.') {
        Some((prefix, base))
            if prefix == global || profiles["profiles"].get(model_id).is_some() =>
        {
            arns.insert(format!(
                "arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}:${{AWS::AccountId}}:inference-profile/{model_id}"
            ));
            if prefix == global {
                arns.insert(fm("${AWS::Region}", base));
                arns.insert(fm("", base));
            } else {
                for region in profiles["profiles"][model_id].as_array().unwrap() {
                    arns.insert(fm(region.as_str().unwrap(), base));
                }
            }
        }
        _ => {
            // A prefix the table does not know is not a bare model id either.
            let prefix = model_id.split('.').next().unwrap();
            assert!(
                [
                    "anthropic",
                    "amazon",
                    "meta",
                    "mistral",
                    "cohere",
                    "ai21",
                    "deepseek",
                    "openai",
                    "qwen",
                    "writer"
                ]
                .contains(&prefix),
                "{model_id}: an inference profile missing from deploy/inference_profiles.json"
            );
            arns.insert(fm("${AWS::Region}", model_id));
        }
    }
    arns
}

fn deployed_config() -> GatewayConfig {
    let file = root().join("deploy/config/gateway.yaml");
    let env = Environment::from_pairs([
        ("GATEWAY_CONFIG", file.display().to_string()),
        ("AWS_REGION", "us-east-1".into()),
        ("GATEWAY_GUARDRAIL_ID", "g".into()),
        ("GATEWAY_GUARDRAIL_VERSION", "1".into()),
    ]);
    GatewayConfig::from_environment(&env).unwrap()
}

#[test]
fn bedrock_permissions_are_exactly_what_the_configured_models_need() {
    let t = template();
    let config = deployed_config();
    let profiles: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("deploy/inference_profiles.json")).unwrap(),
    )
    .unwrap();
    let want: BTreeSet<String> = config
        .model_list
        .iter()
        .flat_map(|d| arns_bedrock_authorizes(&d.model_id, &profiles))
        .collect();

    let models = statement(&t, "BedrockModels");
    let actions: BTreeSet<String> = strings(&models["Action"]).into_iter().collect();
    let want_actions: BTreeSet<String> = [
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "bedrock:CountTokens",
    ]
    .map(String::from)
    .into();
    assert_eq!(actions, want_actions);
    let granted: BTreeSet<String> = strings(&models["Resource"]).into_iter().collect();
    let missing: Vec<_> = want.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "BedrockModels must grant exactly what the configured models need:\n missing {missing:#?}\n extra {extra:#?}"
    );
    // No wildcard anywhere; the only Region-less ARNs are global. profiles' foundation models.
    for arn in &granted {
        assert!(!arn.contains('*'), "wildcard in {arn}");
        if arn.contains(":bedrock:::") {
            let id = arn.rsplit_once('/').unwrap().1;
            assert!(
                config
                    .model_list
                    .iter()
                    .any(|d| d.model_id == format!("global.{id}")),
                "{arn} is Region-less but no global. profile of it is configured"
            );
        }
    }
}

#[test]
fn the_iam_derivation_covers_each_kind_of_model_id() {
    let profiles: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("deploy/inference_profiles.json")).unwrap(),
    )
    .unwrap();
    let us = arns_bedrock_authorizes("us.amazon.nova-micro-v1:0", &profiles);
    assert_eq!(us.len(), 4, "{us:#?}");
    assert!(us.contains(
        "arn:${AWS::Partition}:bedrock:us-east-2::foundation-model/amazon.nova-micro-v1:0"
    ));
    let global =
        arns_bedrock_authorizes("global.anthropic.claude-haiku-4-5-20251001-v1:0", &profiles);
    assert!(global.contains(
        "arn:${AWS::Partition}:bedrock:::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"
    ));
    assert_eq!(global.len(), 3);
    let bare = arns_bedrock_authorizes("amazon.nova-micro-v1:0", &profiles);
    assert_eq!(
        bare.into_iter().collect::<Vec<_>>(),
        ["arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/amazon.nova-micro-v1:0"]
    );
}

#[test]
fn the_deployed_config_uses_current_models_with_fallbacks_and_output_guardrails() {
    let config = deployed_config();
    // No configured model is past or near its end of life today, nor in the next 90 days.
    let today = gateway::config::today_utc();
    for day in today.iter_days().take(91) {
        assert_eq!(
            config.end_of_life_warnings(day),
            Vec::<String>::new(),
            "{day}"
        );
    }
    assert!(config
        .model_list
        .iter()
        .all(|d| gateway::pricing::PriceTable::builtin()
            .price(&d.model_id)
            .is_some()));
    assert_eq!(config.lex.model.as_deref(), Some("claude-haiku"));
    let guardrail = &config.guardrails[0];
    assert!(guardrail.default_on && guardrail.mask_response_content);
    assert_eq!(
        guardrail.modes,
        [
            gateway::config::GuardrailMode::PreCall,
            gateway::config::GuardrailMode::PostCall
        ]
    );
}

#[test]
fn the_other_statements_name_their_own_resources() {
    let t = template();
    let guardrail = statement(&t, "Guardrail");
    assert_eq!(strings(&guardrail["Action"]), ["bedrock:ApplyGuardrail"]);
    assert_eq!(strings(&guardrail["Resource"]), ["Guardrail.GuardrailArn"]);
    let secret = statement(&t, "MasterKey");
    assert_eq!(
        strings(&secret["Action"]),
        ["secretsmanager:GetSecretValue"]
    );
    assert_eq!(strings(&secret["Resource"]), ["MasterKeySecret"]);
    // Secrets read at start-up: each its own statement on its own secret, only when configured.
    for (sid, resource) in [
        ("PhoenixApiKey", "PhoenixApiKeySecretArn"),
        ("OriginVerify", "OriginVerifySecret"),
    ] {
        let secret = statement(&t, sid);
        assert_eq!(
            strings(&secret["Action"]),
            ["secretsmanager:GetSecretValue"]
        );
        assert_eq!(strings(&secret["Resource"]), [resource]);
    }
    let table = statement(&t, "Table");
    assert_eq!(
        strings(&table["Resource"]),
        ["GatewayTable.Arn", "${GatewayTable.Arn}/index/*"]
    );
    assert!(strings(&table["Action"])
        .iter()
        .all(|a| a.starts_with("dynamodb:")));
}

type Index = (String, serde_json::Value, serde_json::Value);

/// What both descriptions must agree on: attributes (as a set), key schema, indexes (name, key
/// schema, projection), in one shape.
fn table_shape(table: &serde_json::Value) -> (BTreeSet<String>, serde_json::Value, Vec<Index>) {
    let attributes = table["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}:{}", a["AttributeName"], a["AttributeType"]))
        .collect();
    let indexes = table["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["IndexName"].as_str().unwrap().to_owned(),
                i["KeySchema"].clone(),
                i["Projection"].clone(),
            )
        })
        .collect();
    (attributes, table["KeySchema"].clone(), indexes)
}

#[test]
fn the_table_is_the_one_the_code_uses() {
    let t = template();
    let code: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("shared/src/store/table.json")).unwrap(),
    )
    .unwrap();
    let table: serde_json::Value =
        serde_json::to_value(get(resource(&t, "GatewayTable"), "Properties")).unwrap();
    let (attributes, keys, indexes) = table_shape(&table);
    assert_eq!(attributes.len(), 6);
    assert_eq!(indexes.len(), 2);
    assert_eq!((attributes, keys, indexes), table_shape(&code));

    let ttl = code["TimeToLiveAttribute"]
        .as_str()
        .or_else(|| code["TimeToLiveSpecification"]["AttributeName"].as_str())
        .unwrap();
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], ttl);
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
}

#[test]
fn the_lex_bot_sends_every_turn_to_the_lex_function() {
    let t = template();
    let bot = get(resource(&t, "QAAssistantBot"), "Properties");
    let locale = &bot["BotLocales"][0];
    assert_eq!(locale["LocaleId"], "en_US");
    let intents = locale["Intents"].as_sequence().unwrap();
    let fallback = intents
        .iter()
        .find(|i| i["ParentIntentSignature"] == "AMAZON.FallbackIntent")
        .unwrap();
    assert_eq!(fallback["Name"], "FallbackIntent");
    for intent in intents {
        assert_eq!(
            intent["FulfillmentCodeHook"]["Enabled"], true,
            "{:?}",
            intent["Name"]
        );
    }
    let alias = get(resource(&t, "QAAssistantBotAlias"), "Properties");
    let hook = &alias["BotAliasLocaleSettings"][0]["BotAliasLocaleSetting"]
        ["CodeHookSpecification"]["LambdaCodeHook"];
    assert_eq!(strings(&hook["LambdaArn"]), ["LexFunction.Arn"]);
    let permission = get(resource(&t, "LexInvokePermission"), "Properties");
    assert_eq!(permission["Principal"], "lexv2.amazonaws.com");
    assert_eq!(strings(&permission["FunctionName"]), ["LexFunction.Arn"]);
}

/// DynamoDB SDK calls (`.scan()`, `.query()`, ...) → the IAM action each needs. A call missing
/// here fails `every_dynamodb_call_of_the_code_is_granted` until it is mapped.
const DYNAMODB_CALLS: &[(&str, &str)] = &[
    ("get_item", "dynamodb:GetItem"),
    ("batch_get_item", "dynamodb:BatchGetItem"),
    ("query", "dynamodb:Query"),
    ("scan", "dynamodb:Scan"),
    ("put_item", "dynamodb:PutItem"),
    ("update_item", "dynamodb:UpdateItem"),
    ("delete_item", "dynamodb:DeleteItem"),
    ("batch_write_item", "dynamodb:BatchWriteItem"),
    // A transaction needs the action of each item it holds (Put/Update/Delete/ConditionCheck):
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
    ("transact_write_items", "dynamodb:PutItem"),
    ("transact_write_items", "dynamodb:UpdateItem"),
    ("transact_write_items", "dynamodb:DeleteItem"),
    ("transact_write_items", "dynamodb:ConditionCheckItem"),
    ("transact_get_items", "dynamodb:GetItem"),
    // Local runs only (GATEWAY_CREATE_TABLES=1): the template creates the table.
    ("create_table", "local-only"),
    ("update_time_to_live", "local-only"),
    ("describe_table", "local-only"),
    // `client.config()` reads the client's own settings: no request.
    ("config", "local-only"),
];

/// Every `.name()` call on a DynamoDB client in the functions' code (outside tests).
fn dynamodb_calls_in_code() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("shared/src"), &mut files);
    for entry in fs::read_dir(root().join("functions")).unwrap() {
        rust_files(&entry.unwrap().path().join("src"), &mut files);
    }
    let mut calls = BTreeSet::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&file).unwrap();
        if name.ends_with("_tests.rs") || !text.contains("aws_sdk_dynamodb") {
            continue;
        }
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        for (at, _) in code.match_indices("()\n") {
            let before = &code[..at];
            let Some(dot) = before.rfind('.') else {
                continue;
            };
            let call = &before[dot + 1..];
            if call.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && before[..dot].trim_end().ends_with("client")
            {
                calls.insert(call.to_owned());
            }
        }
    }
    calls
}

#[test]
fn every_dynamodb_call_of_the_code_is_granted() {
    let calls = dynamodb_calls_in_code();
    // Guards the scan itself: these are called today.
    for call in [
        "get_item",
        "query",
        "scan",
        "transact_write_items",
        "put_item",
    ] {
        assert!(calls.contains(call), "scan missed {call}: {calls:?}");
    }
    let granted: BTreeSet<String> = strings(&statement(&template(), "Table")["Action"])
        .into_iter()
        .collect();
    for call in &calls {
        let actions: Vec<&str> = DYNAMODB_CALLS
            .iter()
            .filter(|(c, _)| c == call)
            .map(|(_, a)| *a)
            .collect();
        assert!(
            !actions.is_empty(),
            "the code calls DynamoDB's {call}: map it to its IAM action in DYNAMODB_CALLS"
        );
        for action in actions.into_iter().filter(|a| *a != "local-only") {
            assert!(
                granted.contains(action),
                "the code calls {call}, which needs {action}; the role's Table statement lacks it"
            );
        }
    }
}

/// Every tag (`!Equals`, `!Not`, ...) inside `value`.
fn tags_in(value: &Value, out: &mut BTreeSet<String>) {
    if let Some(tag) = tag(value) {
        out.insert(tag);
    }
    match untag(value) {
        Value::Sequence(items) => items.iter().for_each(|v| tags_in(v, out)),
        Value::Mapping(map) => map.iter().for_each(|(_, v)| tags_in(v, out)),
        _ => {}
    }
}

#[test]
fn rules_use_only_the_functions_cloudformation_documents_for_rules() {
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html
    let documented: BTreeSet<String> = [
        "!And",
        "!Contains",
        "!EachMemberEquals",
        "!EachMemberIn",
        "!Equals",
        "!Not",
        "!Or",
        "!RefAll",
        "!ValueOf",
        "!ValueOfAll",
        "!Ref",
    ]
    .map(String::from)
    .into();
    let t = template();
    let rules = get(&t, "Rules").as_mapping().unwrap();
    let names: BTreeSet<&str> = rules.keys().map(|k| k.as_str().unwrap()).collect();
    for needed in [
        "AlbNeedsNetwork",
        "InternetFacingAlbNeedsHttps",
        "OacNeedsIamUrl",
        "OriginVerifyNeedsOpenUrl",
        "ScheduledEvaluationNeedsPhoenix",
    ] {
        assert!(names.contains(needed), "no rule {needed}: {names:?}");
    }
    let mut used = BTreeSet::new();
    for (_, rule) in rules {
        tags_in(rule, &mut used);
    }
    let undocumented: Vec<_> = used.difference(&documented).collect();
    assert!(undocumented.is_empty(), "Rules use {undocumented:?}");
    // The internet-facing rule asks for the certificate.
    let https = &rules["InternetFacingAlbNeedsHttps"];
    assert!(format!("{https:?}").contains("AlbCertificateArn"));
}

fn number(value: &Value) -> u64 {
    match untag(value) {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn every_caller_gets_the_gateways_answer_before_its_own_timeout() {
    let t = template();
    // Lex V2 waits at most 30 s for a code hook (https://docs.aws.amazon.com/lexv2/latest/dg/quotas.html);
    // the model call stops SAFETY_MARGIN before the function's deadline.
    let lex = number(get(resource(&t, "LexFunction"), "Properties.Timeout"));
    assert!(
        lex + 5 <= 30,
        "Lex function timeout {lex} s: keep it well below Lex's 30 s"
    );
    assert!(gateway::lex::SAFETY_MARGIN < std::time::Duration::from_secs(5));

    // ALB: the listener's idle timeout is above the longest chat timeout allowed.
    let chat_max = number(get(&t, "Parameters.ChatTimeout.MaxValue"));
    let attributes = get(resource(&t, "Alb"), "Properties.LoadBalancerAttributes");
    let idle = attributes
        .as_sequence()
        .unwrap()
        .iter()
        .find(|a| a["Key"] == "idle_timeout.timeout_seconds")
        .map(|a| number(&a["Value"]))
        .unwrap();
    assert!(idle > chat_max && idle <= 4000, "ALB idle timeout {idle}");

    // CloudFront: the Function URL's function gives up before CloudFront's origin read timeout.
    let timeout = get(resource(&t, "ChatFunction"), "Properties.Timeout");
    assert_eq!(tag(timeout).as_deref(), Some("!If"));
    let parts = untag(timeout).as_sequence().unwrap();
    assert_eq!(parts[0], "CreateCloudFront");
    assert_eq!(
        strings(&parts[1]),
        [
            "CloudFrontChatTimeout",
            "CloudFrontOriginReadTimeout",
            "Seconds"
        ]
    );
    assert_eq!(strings(&parts[2]), ["ChatTimeout"]);
    let origin = get(
        resource(&t, "ChatDistribution"),
        "Properties.DistributionConfig.Origins",
    );
    assert_eq!(
        strings(&origin[0]["CustomOriginConfig"]["OriginReadTimeout"]),
        ["CloudFrontOriginReadTimeout"]
    );
    let mapping = get(&t, "Mappings.CloudFrontChatTimeout");
    for allowed in get(&t, "Parameters.CloudFrontOriginReadTimeout.AllowedValues")
        .as_sequence()
        .unwrap()
    {
        let read = number(allowed);
        let function = number(&mapping[read.to_string().as_str()]["Seconds"]);
        assert!(
            function < read,
            "origin read timeout {read} s, function {function} s"
        );
    }
}

#[test]
fn invoke_permissions_and_concurrency_are_bounded() {
    let t = template();
    let alb = get(resource(&t, "AlbInvokePermission"), "Properties");
    assert_eq!(strings(&alb["SourceAccount"]), ["AWS::AccountId"]);
    assert!(strings(&alb["SourceArn"])[0].contains(":${AWS::AccountId}:targetgroup/"));
    let reserved = get(
        resource(&t, "ChatFunction"),
        "Properties.ReservedConcurrentExecutions",
    );
    assert_eq!(
        strings(reserved),
        [
            "HasChatReservedConcurrency",
            "ChatReservedConcurrency",
            "AWS::NoValue"
        ]
    );
}

#[test]
fn usage_aggregates_come_from_the_tables_stream_with_a_least_privilege_role() {
    let t = template();
    assert_eq!(
        get(
            &t,
            "Resources.GatewayTable.Properties.StreamSpecification.StreamViewType"
        ),
        "NEW_IMAGE"
    );
    assert_eq!(
        get(
            &t,
            "Globals.Function.Environment.Variables.GATEWAY_USAGE_AGGREGATION"
        ),
        "stream"
    );
    let function = resource(&t, "UsageAggregatorFunction");
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"],
        "usage-aggregator"
    );
    assert!(
        function["Properties"].get("Role").is_none(),
        "its own role, not the gateway's"
    );
    let event = get(function, "Properties.Events.UsageRecords");
    assert_eq!(event["Type"], "DynamoDB");
    let props = &event["Properties"];
    assert_eq!(tag(&props["Stream"]).as_deref(), Some("!GetAtt"));
    assert!(format!("{:?}", props["Stream"]).contains("GatewayTable.StreamArn"));
    assert_eq!(props["BisectBatchOnFunctionError"], true);
    let batch = props["BatchSize"].as_u64().unwrap();
    assert!((1..=1000).contains(&batch), "{batch}");
    let window = props["MaximumBatchingWindowInSeconds"].as_u64().unwrap();
    assert!(window <= 300, "{window}");
    assert!(format!("{:?}", props["DestinationConfig"]["OnFailure"])
        .contains("UsageAggregatorFailures"));
    let pattern = format!("{:?}", props["FilterCriteria"]);
    assert!(
        pattern.contains("INSERT") && pattern.contains("REQ"),
        "{pattern}"
    );
    assert_eq!(
        resource(&t, "UsageAggregatorFailures")["Type"],
        "AWS::SQS::Queue"
    );
    // The stream actions on the stream only (ListStreams has no resource level), writes on the
    // table only, and nothing else.
    let statements = get(function, "Properties.Policies")[0]["Statement"]
        .as_sequence()
        .unwrap()
        .clone();
    let mut actions = BTreeSet::new();
    for statement in &statements {
        let listed: Vec<String> = match &statement["Action"] {
            Value::String(one) => vec![one.clone()],
            many => many
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect(),
        };
        let resource = format!("{:?}", statement["Resource"]);
        for action in &listed {
            match action.as_str() {
                "dynamodb:DescribeStream" | "dynamodb:GetRecords" | "dynamodb:GetShardIterator" => {
                    assert!(resource.contains("StreamArn"), "{action}: {resource}")
                }
                "dynamodb:ListStreams" => assert!(resource.contains('*'), "{resource}"),
                "dynamodb:GetItem" | "dynamodb:PutItem" | "dynamodb:UpdateItem" => {
                    assert!(
                        resource.contains("GatewayTable.Arn"),
                        "{action}: {resource}"
                    )
                }
                "sqs:SendMessage" => assert!(resource.contains("UsageAggregatorFailures")),
                other => panic!("unexpected action {other}"),
            }
        }
        actions.extend(listed);
    }
    for needed in [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ] {
        assert!(actions.contains(needed), "{needed}: {actions:?}");
    }
}
