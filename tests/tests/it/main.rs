//! The gateway's integration tests, in one binary so the AWS SDK and the gateway link once:
//! one module per concern, each against the real parts faked at the wire (the fake Bedrock,
//! `moto_server`, a real Phoenix). Run one concern with `cargo test -p gateway-tests --test it
//! <module>::`. The tests that capture logs with a scoped subscriber are in `scoped_logs`.

mod anthropic_messages;
mod anthropic_messages_features;
mod attack_guardrail_input;
mod attack_hostile_input;
mod attack_model_access;
mod attack_unbounded_fields;
mod chat_completions;
mod chat_prompt_cache;
mod chat_reasoning;
mod chat_streaming;
mod chat_structured_output;
mod compat_access_groups;
mod compat_drop_params;
mod compat_health;
mod compat_parallel;
mod compat_runtime_models;
mod compat_self_service;
mod compat_team_members;
mod compat_users;
mod compat_wildcards;
mod embeddings;
mod errors;
mod evaluation;
mod fake_bedrock;
mod guardrails;
mod keys_admin;
mod keys_attacks;
mod keys_lex;
mod keys_limits;
mod keys_master;
mod lambda_events;
mod lex;
mod limits_leases;
mod limits_simulation;
mod limits_zero;
mod never_undercharged;
mod origin_verify;
mod pipeline_seams;
mod response_cache;
mod routing;
mod sam_template;
mod secrets_at_startup;
mod signed_client;
mod stalled_store;
mod stalled_streams;
mod store_table;
mod tracing_latency;
mod tracing_phoenix;
mod usage_aggregation;
mod usage_dynamodb;
mod usage_dynamodb_bench;
mod usage_records;
mod warm_up;
