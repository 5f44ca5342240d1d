//! A config for the issue-20 chat features: Claude Sonnet 4.5 (thinks, caches, priced with
//! cache rates from config), Nova 2 Lite (thinks by effort), Titan (neither), all on the fake.

use crate::harness::MASTER_KEY;

pub const CLAUDE_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
pub const NOVA_2: &str = "us.amazon.nova-2-lite-v1:0";
pub const TITAN: &str = "amazon.titan-text-express-v1";

/// USD per token on `claude`: input, output, cache read, cache write.
pub const PRICES: (f64, f64, f64, f64) = (0.000003, 0.000015, 0.0000003, 0.00000375);

/// Groups `claude`, `nova` and `titan` on the fake at `endpoint`; `rest` follows `model_list`.
pub fn features_yaml(endpoint: &str, rest: &str) -> String {
    let creds = format!(
        "      aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n"
    );
    let (input, output, read, write) = PRICES;
    format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: bedrock/{CLAUDE_45}\n{creds}\
         \x20     input_cost_per_token: {input}\n      output_cost_per_token: {output}\n\
         \x20     cache_read_input_token_cost: {read}\n    model_info:\n      \
         cache_creation_input_token_cost: {write}\n\
         \x20 - model_name: nova\n    litellm_params:\n      model: bedrock/{NOVA_2}\n{creds}\
         \x20 - model_name: titan\n    litellm_params:\n      model: bedrock/{TITAN}\n{creds}\
         general_settings:\n  master_key: {MASTER_KEY}\n{rest}"
    )
}
