//! The online evaluator: a sample of live answers judged after their response, on the
//! after-response queue (`observability::LiveEvaluator`), never on the request path.
//!
//! Settings are the config's `evaluation.online` (`config::OnlineEvaluatorSettings`). A
//! finished request is eligible when it succeeded with a text answer, is traced (the judge needs
//! the question and answer the trace captured), matches the model, team and key filters, and is
//! not itself a judge call. Of those, `sample_rate` are judged, while this instance's judge calls
//! stay under `max_per_minute` and `daily_budget_usd` (UTC day; a judge call of unknown price
//! counts as free, so give the judge model a price). The judge is the `helpfulness` template of
//! `judge`, called through a gateway of its own (same config, routing and guardrails) as the
//! service principal `online-evaluator` with no team: its usage records and traces are written
//! like any request's, and no team's or key's budget pays for it.
//!
//! The score becomes a Phoenix span annotation `quality:helpfulness` on the request's root span
//! (`observability::spans::root_span_id`), and, when metrics are on, an EMF line with the
//! metric `QualityScore` by `Model` in the gateway's namespace.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::json;

use super::judge::{parse_reply, JudgeCriterion};
use super::phoenix_client::PhoenixClient;
use super::Example;
use crate::chat::{ChatRequest, ContentBlock, InferenceParams, Message, Role};
use crate::config::{GatewayConfig, OnlineEvaluatorSettings};
use crate::gateway::{Answer, Gateway, GatewayInitError, RequestContext};
use crate::guardrails::Guardrail;
use crate::keys::Caller;
use crate::observability::spans::root_span_id;
use crate::observability::{
    EmfMetrics, LiveEvaluator, RequestTrace, Telemetry, TelemetryInitError,
};
use crate::router::Providers;
use crate::usage::{Outcome, UsageSink};

/// The service principal the judge calls run as.
pub const JUDGE_SERVICE: &str = "online-evaluator";
/// The span annotation's name, and the metric.
pub const ANNOTATION_NAME: &str = "quality:helpfulness";
pub const METRIC_NAME: &str = "QualityScore";
/// Tries to annotate a span Phoenix may not have stored yet (its export runs beside the judge).
const ANNOTATE_ATTEMPTS: u32 = 10;

/// The evaluator: cheap to clone.
#[derive(Clone)]
pub struct OnlineEvaluator {
    inner: Arc<Inner>,
}

struct Inner {
    settings: OnlineEvaluatorSettings,
    judge: Gateway,
    phoenix: PhoenixClient,
    metrics: Option<Arc<EmfMetrics>>,
    window: Mutex<Window>,
}

/// Judge calls in the current minute and spend of the current UTC day.
#[derive(Default)]
struct Window {
    minute_started: Option<Instant>,
    in_minute: u32,
    day: u64,
    spent_usd: f64,
}

/// The evaluator the config asks for, or `None` (no `evaluation.online`, or traces off: it
/// needs the captured text and a Phoenix to annotate; logged).
pub async fn from_config(
    config: &GatewayConfig,
    providers: &Providers,
    guardrails: &std::collections::HashMap<String, Arc<dyn Guardrail>>,
    telemetry: &Telemetry,
    usage: Arc<dyn UsageSink>,
) -> Result<Option<Arc<dyn LiveEvaluator>>, GatewayInitError> {
    let Some(settings) = config.evaluation.online.clone() else {
        return Ok(None);
    };
    let Some(phoenix) = &telemetry.phoenix else {
        tracing::warn!(
            "evaluation.online is set but tracing to Phoenix is off: the online evaluator is off"
        );
        return Ok(None);
    };
    let trace = phoenix.settings();
    let client = PhoenixClient::new(&trace.endpoint, trace.api_key.clone(), trace.timeout)
        .map_err(|e| TelemetryInitError::Exporter(e.to_string()))?;
    let judge = Gateway::builder(config, providers.clone())
        .configured_guardrails(guardrails.clone())
        .usage_sink(usage)
        .telemetry(telemetry.clone())
        .build()
        .await?;
    tracing::info!(
        judge_model = %settings.judge_model,
        sample_rate = settings.sample_rate,
        "online evaluator on: a sample of answers is judged after the response"
    );
    let evaluator = OnlineEvaluator::new(settings, judge, client, telemetry.metrics.clone());
    Ok(Some(Arc::new(evaluator)))
}

impl OnlineEvaluator {
    /// `judge` answers the judge calls (a gateway without an online evaluator of its own).
    pub fn new(
        settings: OnlineEvaluatorSettings,
        judge: Gateway,
        phoenix: PhoenixClient,
        metrics: Option<Arc<EmfMetrics>>,
    ) -> OnlineEvaluator {
        OnlineEvaluator {
            inner: Arc::new(Inner {
                settings,
                judge,
                phoenix,
                metrics,
                window: Mutex::new(Window::default()),
            }),
        }
    }

    /// The judge's gateway (its queue holds the judge calls' records and traces).
    pub fn judge(&self) -> &Gateway {
        &self.inner.judge
    }
}

impl LiveEvaluator for OnlineEvaluator {
    fn sample(&self, trace: &RequestTrace) -> Option<BoxFuture<'static, Result<(), String>>> {
        let job = self.inner.eligible(trace)?;
        if !self.inner.take_slot() {
            return None;
        }
        let inner = Arc::clone(&self.inner);
        Some(async move { inner.evaluate(job).await }.boxed())
    }
}

/// What a judge call needs from a finished request.
struct Job {
    request_id: String,
    model: String,
    question: String,
    answer: String,
    project: Option<String>,
}

impl Inner {
    fn eligible(&self, trace: &RequestTrace) -> Option<Job> {
        let s = &self.settings;
        let r = &trace.record;
        if r.key_id == format!("service:{JUDGE_SERVICE}") || r.outcome != Outcome::Success {
            return None;
        }
        if !s.models.is_empty() && !s.models.contains(&r.model) {
            return None;
        }
        if !s.teams.is_empty() && !r.team.as_ref().is_some_and(|t| s.teams.contains(t)) {
            return None;
        }
        let key_listed = |k: &String| r.key_alias.as_ref() == Some(k) || &r.key_id == k;
        if !s.keys.is_empty() && !s.keys.iter().any(key_listed) {
            return None;
        }
        let answer = trace.capture.output.as_ref()?.content.clone()?;
        let request = trace.capture.request.as_ref()?;
        let question = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)?
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        if answer.trim().is_empty() || question.trim().is_empty() {
            return None;
        }
        let draw = f64::from(uuid::Uuid::new_v4().as_u128() as u32) / f64::from(u32::MAX);
        if s.sample_rate <= 0.0 || (s.sample_rate < 1.0 && draw >= s.sample_rate) {
            return None;
        }
        Some(Job {
            request_id: r.request_id.clone(),
            model: r.model.clone(),
            question,
            answer,
            project: trace.project().map(str::to_owned),
        })
    }

    /// A judge call within the rate and the day's budget (taken now).
    fn take_slot(&self) -> bool {
        let now = Instant::now();
        let day = today();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if w.day != day {
            w.day = day;
            w.spent_usd = 0.0;
        }
        if w.spent_usd >= self.settings.daily_budget_usd {
            return false;
        }
        if w.minute_started
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(60))
        {
            w.minute_started = Some(now);
            w.in_minute = 0;
        }
        if w.in_minute >= self.settings.max_per_minute {
            return false;
        }
        w.in_minute += 1;
        true
    }

    fn spent(&self, usd: f64) {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        w.spent_usd += usd;
    }

    async fn evaluate(&self, job: Job) -> Result<(), String> {
        let outcome = self.judge_and_record(&job).await;
        // The judge call's own usage record and trace, before this work counts as done.
        self.judge.after_response().flush().await;
        outcome
    }

    async fn judge_and_record(&self, job: &Job) -> Result<(), String> {
        let criterion = JudgeCriterion::Helpfulness;
        let example = Example {
            id: job.request_id.clone(),
            input: job.question.clone(),
            expected: None,
            context: None,
            system: None,
            metadata: serde_json::Map::new(),
        };
        let message = criterion.message(&example, &job.answer)?;
        let principal = self
            .judge
            .service_principal(JUDGE_SERVICE, None)
            .await
            .map_err(|e| e.to_string())?;
        let ctx = RequestContext::new(Caller::Api, principal);
        let mut metadata =
            json!({ "tags": ["online-evaluation"], "evaluated_request_id": job.request_id });
        if let Some(project) = &job.project {
            metadata["project_name"] = json!(project);
        }
        let request = ChatRequest {
            model: self.settings.judge_model.clone(),
            system: vec![criterion.instructions()],
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentBlock::Text(message)],
            }],
            params: InferenceParams {
                temperature: Some(0.0),
                max_tokens: Some(400),
                ..InferenceParams::default()
            },
            metadata: Some(metadata),
            ..ChatRequest::default()
        };
        let reply = match self.judge.chat(&ctx, request).await {
            Ok(Answer::Whole(completion)) => {
                self.spent(completion.cost.unwrap_or(0.0));
                completion.response.content.unwrap_or_default()
            }
            Ok(Answer::Stream(_)) => return Err("the judge streamed".into()),
            Err(err) => return Err(format!("the judge call failed: {err}")),
        };
        let verdict = parse_reply(&reply)?;
        if let Some(metrics) = &self.metrics {
            metrics.write_document(&metric_line(
                metrics.namespace(),
                &job.model,
                &job.request_id,
                verdict.score,
            ));
        }
        let span_id = root_span_id(&job.request_id).to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let annotated = self
                .phoenix
                .annotate_span(
                    &span_id,
                    ANNOTATION_NAME,
                    verdict.score,
                    verdict.explanation.as_deref(),
                )
                .await;
            match annotated {
                Ok(()) => return Ok(()),
                Err(err) if attempt >= ANNOTATE_ATTEMPTS => {
                    return Err(format!("span annotation not written: {err}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }
}

/// The EMF line of one score: `QualityScore` in total (the alarm's) and by `Model` (the
/// dashboard's).
pub fn metric_line(
    namespace: &str,
    model: &str,
    request_id: &str,
    score: f64,
) -> serde_json::Value {
    json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[], ["Model"]],
                "Metrics": [{"Name": METRIC_NAME, "Unit": "None"}],
            }]
        },
        "Model": model,
        "Evaluator": ANNOTATION_NAME,
        "request_id": request_id,
        METRIC_NAME: score,
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn today() -> u64 {
    now_ms() / 86_400_000
}
