//! A deterministic simulation of many gateway instances sharing one table's budget and
//! rate-limit counters: each instance runs the gateway's own lease code
//! ([`gateway::limits::LeasedLimits`]) against [`ModelTable`], a model of DynamoDB (conditional
//! updates atomic, transactions cancelled by a concurrent one on the same item, about 1,000
//! write units a second per partition). Time is virtual and requests arrive on a fixed
//! schedule, so every run gives the same figures. `limits-sim` prints them for BENCHMARKS.md;
//! `it::limits_simulation` holds the targets at a small scale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use gateway::keys::KeyStoreError;
use gateway::limits::lease::{spend_partition_key, Counter, Taken};
use gateway::limits::{
    LeaseBackend, LeasePolicy, LeasedLimits, LimitStore, Limits, Refusal, ReservationPlan,
    ReserveError, Scope, Settlement,
};

/// Write units a partition takes in a second.
pub const PARTITION_WCU_PER_SEC: u64 = 1_000;
/// How long a modelled transaction holds its items (a concurrent one on them is cancelled).
pub const TRANSACTION_MS: u64 = 10;

/// What the table saw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TableStats {
    pub calls: u64,
    pub write_units: u64,
    pub throttles: u64,
    pub conflicts: u64,
}

#[derive(Debug, Default)]
struct Inner {
    items: HashMap<(String, String), HashMap<&'static str, f64>>,
    now_ms: u64,
    /// Write units per partition in the current second.
    second: u64,
    units: HashMap<String, u64>,
    /// Until when each item is held by a transaction.
    held_until: HashMap<(String, String), u64>,
    stats: TableStats,
}

impl Inner {
    /// One call writing `units` to `pk`'s partition; `false` when it is throttled.
    fn write(&mut self, pk: &str, units: u64) -> bool {
        self.stats.calls += 1;
        self.units(pk, units)
    }

    /// Counts `units` against `pk`'s partition in the current second.
    fn units(&mut self, pk: &str, units: u64) -> bool {
        let second = self.now_ms / 1000;
        if second != self.second {
            self.second = second;
            self.units.clear();
        }
        let used = self.units.entry(pk.to_owned()).or_default();
        if *used + units > PARTITION_WCU_PER_SEC {
            self.stats.throttles += 1;
            return false;
        }
        *used += units;
        self.stats.write_units += units;
        true
    }
}

/// One table in memory, modelled as above. Shared by every instance of a run.
#[derive(Debug, Default, Clone)]
pub struct ModelTable {
    inner: Arc<Mutex<Inner>>,
}

impl ModelTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_now_ms(&self, ms: u64) {
        self.lock().now_ms = ms;
    }

    pub fn stats(&self) -> TableStats {
        self.lock().stats
    }

    /// A counter's value (`used` of a budget, `count` of a window).
    pub fn counter(&self, pk: &str, sk: &str, attribute: &str) -> f64 {
        self.lock()
            .items
            .get(&(pk.to_owned(), sk.to_owned()))
            .and_then(|item| item.get(attribute).copied())
            .unwrap_or(0.0)
    }

    /// A transaction writing one unit to each of `items` (two units each, as DynamoDB bills
    /// transactional writes): cancelled if another holds one of them, throttled if a partition
    /// is full. `true` when it went through.
    pub fn transaction(&self, items: &[(String, String)]) -> bool {
        let mut inner = self.lock();
        let now = inner.now_ms;
        inner.stats.calls += 1;
        if items
            .iter()
            .any(|item| inner.held_until.get(item).is_some_and(|until| *until > now))
        {
            inner.stats.conflicts += 1;
            return false;
        }
        for (pk, _) in items {
            if !inner.units(pk, 2) {
                return false;
            }
        }
        for item in items {
            inner.held_until.insert(item.clone(), now + TRANSACTION_MS);
        }
        true
    }
}

impl LeaseBackend for ModelTable {
    fn take<'a>(
        &'a self,
        counter: &'a Counter,
        delta: f64,
        limit: f64,
        _spend: f64,
    ) -> BoxFuture<'a, Result<Taken, KeyStoreError>> {
        let mut inner = self.lock();
        let key = (counter.pk.clone(), counter.sk.clone());
        let total = inner
            .items
            .get(&key)
            .and_then(|item| item.get(counter.attribute()).copied())
            .unwrap_or(0.0);
        if !inner.write(&counter.pk, 1) {
            return Box::pin(std::future::ready(Err(KeyStoreError(
                "ProvisionedThroughputExceededException".into(),
            ))));
        }
        let taken = if delta > 0.0 && total + delta > limit + 1e-12 {
            Taken::Short { total }
        } else {
            let item = inner.items.entry(key).or_default();
            *item.entry(counter.attribute()).or_default() += delta;
            Taken::Granted {
                total: total + delta,
            }
        };
        Box::pin(std::future::ready(Ok(taken)))
    }

    fn add_spend<'a>(
        &'a self,
        counter: &'a Counter,
        shard: u32,
        cost: f64,
    ) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        let mut inner = self.lock();
        let pk = spend_partition_key(&counter.pk, shard);
        let result = if inner.write(&pk, 1) {
            *inner
                .items
                .entry((pk, counter.sk.clone()))
                .or_default()
                .entry("spend")
                .or_default() += cost;
            Ok(())
        } else {
            Err(KeyStoreError(
                "ProvisionedThroughputExceededException".into(),
            ))
        };
        Box::pin(std::future::ready(result))
    }

    fn spend<'a>(
        &'a self,
        _pk: &'a str,
        _sk: &'a str,
    ) -> BoxFuture<'a, Result<f64, KeyStoreError>> {
        Box::pin(std::future::ready(Ok(0.0)))
    }
}

/// One run's workload.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub instances: usize,
    pub teams: usize,
    /// Requests a second of each team.
    pub team_rps: u64,
    pub seconds: u64,
    /// Each team's budget: the spend of this many seconds of its traffic.
    pub budget_seconds: f64,
    /// Each team's RPM limit (`None`: none).
    pub rpm_limit: Option<u64>,
    /// `false`: every request reserves and settles in the table (per-request transactions).
    pub leases: bool,
}

/// Reserved per request (USD): a 1,000-token answer at a typical price.
pub const RESERVED: f64 = 0.01;
/// What a request actually costs, on average (answers are shorter than reserved).
pub const AVERAGE_COST: f64 = 0.006;

/// A run's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub requests: u64,
    pub admitted: u64,
    pub refused_budget: u64,
    pub refused_rate: u64,
    /// Budget refusals of a team whose settled spend left room for the request.
    pub refused_with_budget_left: u64,
    /// Requests that failed on a throttled or contended table.
    pub failed: u64,
    /// The largest spend over budget of any team (USD; 0 means never over).
    pub overspend: f64,
    /// The smallest share of its budget any team spent.
    pub min_budget_spent: f64,
    pub calls_before_model: u64,
    /// Requests, and table calls before their model call, while their team had spent less
    /// than 90% of its budget (the steady state of a key under budget).
    pub requests_under_budget: u64,
    pub calls_under_budget: u64,
    pub table: TableStats,
}

impl Outcome {
    pub fn calls_per_request(&self) -> f64 {
        self.calls_before_model as f64 / self.requests.max(1) as f64
    }

    /// Table calls before the model call per request while under 90% of the budget.
    pub fn calls_per_request_under_budget(&self) -> f64 {
        self.calls_under_budget as f64 / self.requests_under_budget.max(1) as f64
    }

    /// Write units per request, counting the request's usage record (one unit) too.
    pub fn write_units_per_request(&self) -> f64 {
        (self.table.write_units + self.requests) as f64 / self.requests.max(1) as f64
    }
}

/// A deterministic sequence (an LCG), so runs repeat.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Runs `scenario` and returns its figures.
pub fn run(scenario: &Scenario) -> Outcome {
    let table = ModelTable::default();
    let policy = LeasePolicy::default();
    let instances: Vec<LeasedLimits<ModelTable>> = (0..scenario.instances)
        .map(|_| LeasedLimits::new(table.clone(), policy))
        .collect();
    let budget = scenario.budget_seconds * scenario.team_rps as f64 * AVERAGE_COST;
    let limits = Limits::new(Some(budget), None, 0, scenario.rpm_limit, None);
    let mut spent = vec![0.0_f64; scenario.teams];
    let mut outcome = Outcome::default();
    let mut sequence = Sequence(7);
    let per_second = scenario.team_rps * scenario.teams as u64;
    let start_ms = 1_800_000_000_000_u64;
    for second in 0..scenario.seconds {
        for n in 0..per_second {
            let now_ms = start_ms + second * 1000 + n * 1000 / per_second;
            table.set_now_ms(now_ms);
            let team = usize::try_from(n % scenario.teams as u64).unwrap_or(0);
            // Lambda adds up to 1,000 instances per 10 seconds: instance i is up after i x 10 ms.
            let elapsed_ms = second * 1000 + n * 1000 / per_second;
            let up = (scenario.instances as u64).min(1 + elapsed_ms / 10);
            let instance = usize::try_from(sequence.next() % up).unwrap_or(0);
            let request_id = format!("r{second}-{n}");
            let scope = Scope::Team(format!("team-{team}"));
            let Some(plan) = ReservationPlan::new(
                &request_id,
                now_ms / 1000,
                RESERVED,
                1_000,
                Duration::from_secs(900),
                &[(scope, &limits)],
            ) else {
                continue;
            };
            outcome.requests += 1;
            let under_budget = spent[team] < 0.9 * budget;
            outcome.requests_under_budget += u64::from(under_budget);
            let before = table.stats().calls;
            let admitted = if scenario.leases {
                instances[instance].reserve(&plan).now_or_never()
            } else {
                Some(reserve_per_request(&table, &plan, spent[team], budget))
            };
            let calls = table.stats().calls - before;
            outcome.calls_before_model += calls;
            if under_budget {
                outcome.calls_under_budget += calls;
            }
            match admitted {
                Some(Ok(())) => {}
                Some(Err(ReserveError::Refused(Refusal::Budget { .. }))) => {
                    outcome.refused_budget += 1;
                    if budget - spent[team] >= RESERVED {
                        outcome.refused_with_budget_left += 1;
                    }
                    continue;
                }
                Some(Err(ReserveError::Refused(Refusal::RateLimited { .. }))) => {
                    outcome.refused_rate += 1;
                    continue;
                }
                Some(Err(ReserveError::Store(_))) | None => {
                    outcome.failed += 1;
                    continue;
                }
            }
            outcome.admitted += 1;
            // Answers cost 20% to 100% of the reservation.
            let cost = RESERVED * (0.2 + 0.8 * (sequence.next() % 1000) as f64 / 1000.0);
            spent[team] += cost;
            let settlement = Settlement {
                plan,
                cost,
                tokens: 600,
            };
            if scenario.leases {
                let _ = instances[instance].settle(&settlement).now_or_never();
            } else {
                let team_pk = format!("LIMIT#team#team-{team}");
                table.transaction(&[
                    (team_pk.clone(), "BUDGET#all".into()),
                    (team_pk, format!("RES#{request_id}")),
                ]);
            }
        }
    }
    outcome.overspend = spent
        .iter()
        .map(|s| (s - budget).max(0.0))
        .fold(0.0, f64::max);
    outcome.min_budget_spent = spent.iter().map(|s| s / budget).fold(f64::MAX, f64::min);
    outcome.table = table.stats();
    outcome
}

/// The per-request baseline: one transaction over the team's budget counter, its reservation
/// and its RPM window, as the store without leases sends; refused when the budget is spent.
fn reserve_per_request(
    table: &ModelTable,
    plan: &ReservationPlan,
    spent: f64,
    budget: f64,
) -> Result<(), ReserveError> {
    let pk = plan.scopes[0].scope.partition_key();
    let items = [
        (pk.clone(), "BUDGET#all".to_owned()),
        (pk.clone(), format!("RES#{}", plan.request_id)),
        (pk, format!("RPM#{}", plan.minute())),
    ];
    if spent + plan.cost > budget {
        return Err(ReserveError::Refused(
            plan.refusal(0, gateway::limits::LimitKind::Budget),
        ));
    }
    if table.transaction(&items) {
        Ok(())
    } else {
        Err(ReserveError::Store(KeyStoreError(
            "cancelled or throttled".into(),
        )))
    }
}

/// The scenarios BENCHMARKS.md reports.
pub fn scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    for instances in [1, 10, 100, 1_000] {
        all.push(Scenario {
            name: "one team, 5,000 rps",
            instances,
            teams: 1,
            team_rps: 5_000,
            seconds: 60,
            budget_seconds: 40.0,
            rpm_limit: Some(400_000),
            leases: true,
        });
    }
    for instances in [10, 100, 1_000] {
        all.push(Scenario {
            name: "1,000 teams, 5 rps each",
            instances,
            teams: 1_000,
            team_rps: 5,
            seconds: 60,
            budget_seconds: 40.0,
            rpm_limit: Some(400),
            leases: true,
        });
    }
    all.push(Scenario {
        name: "one team, 5,000 rps, no leases",
        instances: 100,
        teams: 1,
        team_rps: 5_000,
        seconds: 10,
        budget_seconds: 40.0,
        rpm_limit: Some(400_000),
        leases: false,
    });
    all
}

/// The figures as a Markdown table.
pub fn table(runs: &[(Scenario, Outcome)]) -> String {
    let mut out = String::from(
        "| scenario | instances | requests | admitted | overspend (USD) | least budget spent | refused with budget left | DynamoDB calls before the model / request (all; under 90% of budget) | write units / request | throttles | conflicts | failed |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for (scenario, o) in runs {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.6} | {:.2}% | {} | {:.4}; {:.4} | {:.2} | {} | {} | {} |\n",
            scenario.name,
            scenario.instances,
            o.requests,
            o.admitted,
            o.overspend,
            o.min_budget_spent * 100.0,
            o.refused_with_budget_left,
            o.calls_per_request(),
            o.calls_per_request_under_budget(),
            o.write_units_per_request(),
            o.table.throttles,
            o.table.conflicts,
            o.failed,
        ));
    }
    out
}
