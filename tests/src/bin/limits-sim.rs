//! `limits-sim`: runs the deterministic simulation of many gateway instances sharing one
//! table's budget and rate-limit counters (`gateway_tests::limits_sim`) and prints its figures
//! as the Markdown table BENCHMARKS.md shows. Usage: `cargo run --release -p gateway-tests
//! --bin limits-sim`.

use std::io::Write as _;

use gateway_tests::limits_sim::{run, scenarios, table};

fn main() -> std::io::Result<()> {
    let runs: Vec<_> = scenarios()
        .into_iter()
        .map(|scenario| {
            let outcome = run(&scenario);
            (scenario, outcome)
        })
        .collect();
    std::io::stdout().write_all(table(&runs).as_bytes())
}
