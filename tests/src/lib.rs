//! Test support for the gateway: a fake Amazon Bedrock Runtime that speaks the real wire protocol,
//! and a harness that runs the whole gateway in-process against it.

pub mod captured;
pub mod collector;
pub mod fake_bedrock;
pub mod features;
pub mod harness;
pub mod keys;
pub mod limits_sim;
pub mod moto;
pub mod phoenix;
pub mod usage_table;
