//! `fake-bedrock`: runs the fake Bedrock Runtime on 127.0.0.1 for local runs and benchmarks.
//!
//! Usage: `fake-bedrock [--port N] [--latency-ms N] [--stream-event-delay-ms N]`.
//! Prints `fake-bedrock listening on http://127.0.0.1:PORT` once ready; serves until SIGTERM/ctrl-c.

use std::error::Error;
use std::io::Write as _;
use std::time::Duration;

use gateway_tests::fake_bedrock::{FakeBedrock, FakeOptions};

const USAGE: &str = "usage: fake-bedrock [--port N] [--latency-ms N] [--stream-event-delay-ms N]";

fn parse_args() -> Result<FakeOptions, String> {
    let mut options = FakeOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number: u64 = value.parse().map_err(|e| format!("{flag} {value}: {e}"))?;
        match flag.as_str() {
            "--port" => options.port = u16::try_from(number).map_err(|e| format!("--port: {e}"))?,
            "--latency-ms" => options.latency = Duration::from_millis(number),
            "--stream-event-delay-ms" => options.stream_event_delay = Duration::from_millis(number),
            other => return Err(format!("unknown argument {other} ({USAGE})")),
        }
    }
    Ok(options)
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let options = parse_args()?;
    let fake = FakeBedrock::start_with(options).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "fake-bedrock listening on {}", fake.endpoint())?;
    stdout.flush()?;
    drop(stdout);
    terminated().await;
    fake.shutdown();
    Ok(())
}
