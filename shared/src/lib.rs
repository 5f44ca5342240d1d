//! The gateway's library crate: everything the `chat` and `lex` Lambda functions share.
//!
//! One folder per concern. The two edges: `http` (the OpenAI-compatible API and its three ways
//! to run) and `lex` (QAAssistant). Below them `pipeline` (the request path, in order), then
//! one concern each: `router`, `keys`, `usage`, `guardrails`; then `providers` (Bedrock
//! Converse); at the bottom `chat` (provider-neutral types), `error`, `config`, `openai` (wire
//! types). `gateway` wires the parts; `lambda_extension` holds a Lambda sandbox open for the
//! work after each response; `observability` turns finished requests into Phoenix traces and
//! CloudWatch metrics on that work; `telemetry` sets up logs.

pub mod chat;
pub mod config;
pub mod deadline;
pub mod env;
pub mod error;
pub mod evaluation;
pub mod gateway;
pub mod guardrails;
pub mod http;
pub mod keys;
pub mod lambda_extension;
pub mod lex;
pub mod observability;
pub mod openai;
pub mod pipeline;
pub mod pricing;
pub mod providers;
pub mod router;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod usage;
