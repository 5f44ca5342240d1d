//! The integration tests that capture log output with a scoped `tracing` subscriber, in a binary
//! of their own: `tracing` caches per call site whether anyone listens, so tests running beside
//! them without a subscriber (all of `it`) would race with their scoped subscribers. Every test
//! here installs one before the gateway logs anything.

mod after_response_deadline;
mod no_secrets_in_telemetry;
mod request_logs;
mod usage_dynamodb_outage;
