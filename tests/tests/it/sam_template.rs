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
                    // chat-only settings, set where they matter (checked below)
                    || ["GATEWAY_LAMBDA_MODE", "GATEWAY_ORIGIN_VERIFY_SECRET_ID"].contains(&name.as_str()),
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
                    .first()
                    .map(|s| s.to_string()),
            );
        }
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

#[test]
fn bedrock_permissions_name_exactly_the_configured_models() {
    let t = template();
    let file = root().join("deploy/config/gateway.yaml");
    let env = Environment::from_pairs([
        ("GATEWAY_CONFIG", file.display().to_string()),
        ("AWS_REGION", "us-east-1".into()),
        ("GATEWAY_GUARDRAIL_ID", "g".into()),
        ("GATEWAY_GUARDRAIL_VERSION", "1".into()),
    ]);
    let config = GatewayConfig::from_environment(&env).unwrap();
    let configured: BTreeSet<String> = config
        .model_list
        .iter()
        .map(|d| d.model_id.clone())
        .collect();

    let models = statement(&t, "BedrockModels");
    let actions: BTreeSet<String> = strings(&models["Action"]).into_iter().collect();
    let want: BTreeSet<String> = [
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "bedrock:CountTokens",
    ]
    .map(String::from)
    .into();
    assert_eq!(actions, want);
    let granted: BTreeSet<String> = strings(&models["Resource"])
        .iter()
        .map(|arn| {
            let (_, id) = arn
                .split_once(":foundation-model/")
                .or_else(|| arn.split_once(":inference-profile/"))
                .unwrap_or_else(|| panic!("not a model ARN: {arn}"));
            id.to_owned()
        })
        .collect();
    assert_eq!(
        granted, configured,
        "the policy must name the configured models, no more"
    );

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
