//! `gateway-admin`: table chores outside Lambda, against the table `GATEWAY_TABLE_NAME` names
//! (endpoint and credentials from the usual AWS variables, `AWS_ENDPOINT_URL_DYNAMODB` for moto).
//!
//!   gateway-admin create-table           creates the table (idempotent)
//!   gateway-admin replay-usage [FILE]    writes the usage records of the fallback log lines
//!                                        (`USAGE_RECORD_UNWRITTEN`) in FILE, or stdin, into
//!                                        the table; a record already there is not counted again;
//!                                        markers that do not start a log message and records
//!                                        that fail validation are refused, with counts and
//!                                        reasons on stderr (`refused N: reason`); budget
//!                                        settlements' lines (`BUDGET_SETTLEMENT_UNWRITTEN`) are
//!                                        applied to the limit counters, each at most once
//!   gateway-admin evaluate ...           runs a dataset through the gateway against model
//!                                        groups and scores the answers (`gateway::evaluation::cli`
//!                                        has the options); exit status 2 when a score is under its
//!                                        `--min`
//!
//! The `usage:` section of the config (`GATEWAY_CONFIG`, when set) gives the records' retention.

use std::io::Write;
use std::process::ExitCode;

use gateway::config::{GatewayConfig, UsageSettings, CONFIG_PATH_VAR};
use gateway::env::Environment;
use gateway::store::{create_table, AwsClients, CREATE_TABLES_VAR};
use gateway::usage::{replay_lines, table_from_environment, DynamoUsageStore};
use tokio::io::BufReader;

const USAGE: &str = "usage: gateway-admin create-table | replay-usage [FILE] | evaluate ...";

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let env = Environment::from_process();
    gateway::telemetry::init(&env);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("evaluate") {
        return evaluate(&env, &args[1..]).await;
    }
    match run(&env, &args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(env: &Environment, args: &[String]) -> Result<(), Failure> {
    let table = table_from_environment(env).ok_or("GATEWAY_TABLE_NAME is not set")?;
    let clients = AwsClients::load(env).await;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["create-table"] => {
            create_table(&clients.dynamodb, table).await?;
            say(&format!("table {table} is ready"))
        }
        ["replay-usage", rest @ ..] if rest.len() <= 1 => {
            if env.get(CREATE_TABLES_VAR) == Some("1") {
                create_table(&clients.dynamodb, table).await?;
            }
            let settings = usage_settings(env)?;
            let store = DynamoUsageStore::new(&clients.dynamodb, table, &settings);
            let summary = match rest.first().copied() {
                None | Some("-") => {
                    replay_lines(&store, BufReader::new(tokio::io::stdin())).await?
                }
                Some(path) => {
                    let file = tokio::fs::File::open(path).await?;
                    replay_lines(&store, BufReader::new(file)).await?
                }
            };
            say(&serde_json::to_string(&summary)?)?;
            for (reason, count) in &summary.refusals {
                writeln!(std::io::stderr(), "refused {count}: {reason}")?;
            }
            match summary.failed {
                0 => Ok(()),
                n => Err(format!(
                    "{n} records or settlements were not replayed (see the errors above)"
                )
                .into()),
            }
        }
        _ => Err(USAGE.into()),
    }
}

/// `evaluate`: tables on stdout, progress on stderr.
async fn evaluate(env: &Environment, args: &[String]) -> ExitCode {
    let progress = std::sync::Arc::new(|line: &str| {
        let _ = writeln!(std::io::stderr(), "{line}");
    });
    match gateway::evaluation::cli::run(env, args, &mut std::io::stdout(), progress).await {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "evaluate: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The config's `usage` section when a config is named, else the defaults.
fn usage_settings(env: &Environment) -> Result<UsageSettings, Failure> {
    match env.get(CONFIG_PATH_VAR) {
        Some(_) => Ok(GatewayConfig::from_environment(env)?.usage),
        None => Ok(UsageSettings::default()),
    }
}

fn say(line: &str) -> Result<(), Failure> {
    writeln!(std::io::stdout(), "{line}")?;
    Ok(())
}
