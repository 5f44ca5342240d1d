//! The gateway's library crate: everything the `chat` and `lex` Lambda functions share.
//!
//! One folder per concern: `config` (LiteLLM `config.yaml`), `openai` (wire types), `chat`
//! (the provider-neutral request and response), `providers` (Bedrock Converse), `router`
//! (model groups and deployments), `auth`, `gateway` (the request path both functions call),
//! `http` (the OpenAI-compatible API and its three ways to run), `lex` (QAAssistant).

pub mod auth;
pub mod chat;
pub mod config;
pub mod deadline;
pub mod env;
pub mod error;
pub mod gateway;
pub mod http;
pub mod lex;
pub mod openai;
pub mod providers;
pub mod router;
pub mod secret;
pub mod telemetry;
