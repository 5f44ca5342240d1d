//! The memory sink's copy of its records: a ring buffer of compact records whose repeated
//! names (key, team, user, model, deployment, guardrail results) are shared `Arc<str>`s, so an
//! insert is O(1) and 10,000 kept records cost a few MB.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use super::{Outcome, UsageRecord};

/// Distinct names the interner remembers before it starts afresh (a bound on its memory when
/// every request names a new user or session; records keep the names they already share).
pub const MAX_NAMES: usize = 4096;

/// The records, oldest first, and the names they share.
#[derive(Debug, Default)]
pub(super) struct KeptRecords {
    records: VecDeque<KeptRecord>,
    names: Names,
    limit: Option<usize>,
}

impl KeptRecords {
    /// Every record, or the latest `limit`.
    pub(super) fn new(limit: Option<usize>) -> Self {
        KeptRecords {
            records: VecDeque::with_capacity(limit.unwrap_or(0).min(1024)),
            names: Names::default(),
            limit,
        }
    }

    /// Appends `record`, dropping the oldest when full: O(1).
    pub(super) fn push(&mut self, record: &UsageRecord) {
        if let Some(limit) = self.limit {
            while self.records.len() >= limit {
                self.records.pop_front();
            }
        }
        let kept = KeptRecord::new(record, &mut self.names);
        self.records.push_back(kept);
    }

    pub(super) fn limit(&self) -> Option<usize> {
        self.limit
    }

    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The records in full, oldest first.
    pub(super) fn to_records(&self) -> Vec<UsageRecord> {
        self.records.iter().map(KeptRecord::to_record).collect()
    }
}

/// Interned names: one allocation per distinct name, shared by every record naming it.
#[derive(Debug, Default)]
struct Names(HashSet<Arc<str>>);

impl Names {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(name) {
            return Arc::clone(shared);
        }
        if self.0.len() >= MAX_NAMES {
            self.0.clear();
        }
        let shared: Arc<str> = Arc::from(name);
        self.0.insert(Arc::clone(&shared));
        shared
    }

    fn opt(&mut self, name: Option<&String>) -> Option<Arc<str>> {
        name.map(|n| self.get(n))
    }

    fn list(&mut self, names: &[String]) -> Box<[Arc<str>]> {
        names.iter().map(|n| self.get(n)).collect()
    }
}

/// A [`UsageRecord`] without its own copy of names other records share.
#[derive(Debug)]
struct KeptRecord {
    request_id: Box<str>,
    session_id: Option<Box<str>>,
    key_id: Arc<str>,
    key_alias: Option<Arc<str>>,
    team: Option<Arc<str>>,
    user: Option<Arc<str>>,
    model: Arc<str>,
    deployment_id: Option<Arc<str>>,
    provider_model: Option<Arc<str>>,
    fallbacks: Box<[Arc<str>]>,
    guardrails: Box<[Arc<str>]>,
    guardrail_entities: Box<[Arc<str>]>,
    caller: &'static str,
    cache_hit: Option<bool>,
    finish_reason: Option<&'static str>,
    error_type: Option<&'static str>,
    cost_usd: Option<f64>,
    started_at_ms: u64,
    latency_ms: u64,
    time_to_first_token_ms: Option<u64>,
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
    cache_read_tokens: Option<u32>,
    cache_write_tokens: Option<u32>,
    reasoning_tokens: Option<u32>,
    attempts: u32,
    retries: u32,
    streamed: bool,
    usage_estimated: bool,
    outcome: Outcome,
}

impl KeptRecord {
    fn new(r: &UsageRecord, names: &mut Names) -> KeptRecord {
        KeptRecord {
            request_id: r.request_id.as_str().into(),
            session_id: r.session_id.as_deref().map(Box::from),
            key_id: names.get(&r.key_id),
            key_alias: names.opt(r.key_alias.as_ref()),
            team: names.opt(r.team.as_ref()),
            user: names.opt(r.user.as_ref()),
            model: names.get(&r.model),
            deployment_id: names.opt(r.deployment_id.as_ref()),
            provider_model: names.opt(r.provider_model.as_ref()),
            fallbacks: names.list(&r.fallbacks),
            guardrails: names.list(&r.guardrails),
            guardrail_entities: names.list(&r.guardrail_entities),
            caller: r.caller,
            finish_reason: r.finish_reason,
            error_type: r.error_type,
            cost_usd: r.cost_usd,
            started_at_ms: r.started_at_ms,
            latency_ms: r.latency_ms,
            time_to_first_token_ms: r.time_to_first_token_ms,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            total_tokens: r.total_tokens,
            cache_read_tokens: r.cache_read_tokens,
            cache_write_tokens: r.cache_write_tokens,
            reasoning_tokens: r.reasoning_tokens,
            attempts: r.attempts,
            retries: r.retries,
            streamed: r.streamed,
            usage_estimated: r.usage_estimated,
            outcome: r.outcome,
            cache_hit: r.cache_hit,
        }
    }

    fn to_record(&self) -> UsageRecord {
        let text = |s: &Option<Arc<str>>| s.as_deref().map(str::to_owned);
        let list = |l: &[Arc<str>]| l.iter().map(|s| s.to_string()).collect();
        UsageRecord {
            request_id: self.request_id.to_string(),
            started_at_ms: self.started_at_ms,
            caller: self.caller,
            key_id: self.key_id.to_string(),
            key_alias: text(&self.key_alias),
            team: text(&self.team),
            user: text(&self.user),
            session_id: self.session_id.as_deref().map(str::to_owned),
            model: self.model.to_string(),
            deployment_id: text(&self.deployment_id),
            provider_model: text(&self.provider_model),
            streamed: self.streamed,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: self.total_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens,
            cost_usd: self.cost_usd,
            usage_estimated: self.usage_estimated,
            latency_ms: self.latency_ms,
            time_to_first_token_ms: self.time_to_first_token_ms,
            finish_reason: self.finish_reason,
            outcome: self.outcome,
            error_type: self.error_type,
            attempts: self.attempts,
            retries: self.retries,
            fallbacks: list(&self.fallbacks),
            guardrails: list(&self.guardrails),
            guardrail_entities: list(&self.guardrail_entities),
            cache_hit: self.cache_hit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: usize) -> UsageRecord {
        UsageRecord {
            request_id: format!("req-{id}"),
            started_at_ms: 1_000 + id as u64,
            caller: "api",
            key_id: "key-1".to_owned(),
            key_alias: Some("ci".to_owned()),
            team: Some("search".to_owned()),
            user: Some(format!("user-{}", id % 3)),
            session_id: Some(format!("session-{id}")),
            model: "claude".to_owned(),
            deployment_id: Some("claude-a".to_owned()),
            provider_model: Some("anthropic.claude".to_owned()),
            streamed: id.is_multiple_of(2),
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15,
            cache_read_tokens: Some(4),
            cache_write_tokens: None,
            reasoning_tokens: Some(2),
            cost_usd: Some(0.001),
            usage_estimated: true,
            latency_ms: 7,
            time_to_first_token_ms: Some(3),
            finish_reason: Some("stop"),
            outcome: Outcome::Success,
            error_type: None,
            attempts: 2,
            retries: 1,
            fallbacks: vec!["backup".to_owned()],
            guardrails: vec!["pii:masked".to_owned()],
            guardrail_entities: vec!["EMAIL".to_owned()],
            cache_hit: Some(false),
        }
    }

    #[test]
    fn records_come_back_whole_in_insertion_order() {
        let mut kept = KeptRecords::new(None);
        let written: Vec<UsageRecord> = (0..5).map(record).collect();
        for r in &written {
            kept.push(r);
        }
        assert_eq!(kept.to_records(), written);
    }

    #[test]
    fn a_full_buffer_drops_its_oldest_record_per_insert() {
        let mut kept = KeptRecords::new(Some(3));
        for id in 0..7 {
            kept.push(&record(id));
            assert_eq!(kept.len(), (id + 1).min(3));
        }
        let ids: Vec<String> = kept
            .to_records()
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(ids, ["req-4", "req-5", "req-6"]);
    }

    #[test]
    fn records_share_one_copy_of_each_name() {
        let mut kept = KeptRecords::new(Some(10));
        kept.push(&record(1));
        kept.push(&record(2));
        let (a, b) = (&kept.records[0], &kept.records[1]);
        assert!(Arc::ptr_eq(&a.model, &b.model));
        assert!(Arc::ptr_eq(&a.key_id, &b.key_id));
        assert!(Arc::ptr_eq(&a.guardrails[0], &b.guardrails[0]));
        assert!(!Arc::ptr_eq(
            a.user.as_ref().unwrap(),
            b.user.as_ref().unwrap()
        ));
    }

    #[test]
    fn a_kept_record_is_compact() {
        // 10,000 of them (the default `keep_records`) in about 4 MB with their request ids.
        assert!(std::mem::size_of::<KeptRecord>() <= 352);
        assert!(std::mem::size_of::<KeptRecord>() < std::mem::size_of::<UsageRecord>());
    }

    #[test]
    fn the_interner_stays_bounded_when_every_request_names_someone_new() {
        let mut names = Names::default();
        for n in 0..(MAX_NAMES * 3) {
            names.get(&format!("user-{n}"));
            assert!(names.0.len() <= MAX_NAMES);
        }
    }
}
