//! The gateway's library crate: everything the `chat` and `lex` Lambda functions share.
//!
//! One folder per concern. The edges: `http` (the OpenAI-compatible API and its three ways to
//! run), `lex` (QAAssistant) and `admin` (LiteLLM's admin API: keys, teams, spend). Below them
//! `pipeline` (the request path, in order, and the `Gateway` state its steps share), then one
//! concern each: `router`, `keys`, `usage`, `guardrails`; then `providers` (Bedrock Converse); at
//! the bottom `chat` (provider-neutral types), `error` (with the providers' classified errors),
//! `config`, `openai` (wire types and their conversions to and from `chat`). `gateway` only wires
//! the parts at cold start (one AWS configuration for every client); `after_response` is the
//! queue of work after each response (usage records, settlements, traces) and its drain;
//! `lambda_extension` holds a Lambda sandbox open until that work is done; `observability` turns
//! finished requests into Phoenix traces and CloudWatch metrics on that work; `telemetry` sets up
//! logs.

pub mod admin;
pub mod after_response;
mod allocator;
pub mod anthropic;
pub mod cache;
pub mod chat;
pub mod clock;
pub mod config;
pub mod deadline;
pub mod embeddings;
pub mod env;
pub mod error;
pub mod evaluation;
pub mod gateway;
pub mod guardrails;
pub mod http;
pub mod keys;
pub mod lambda_extension;
pub mod lex;
pub mod limits;
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
