//! The spend API (master key only, [`super::master_only`]): `GET /spend/logs` and `GET /global/spend/report` in
//! LiteLLM's shapes, and our `GET /spend/report` (per team and model, or per key; by day or
//! month). Answered by the usage sink's [`SpendStore`](crate::usage::SpendStore): memory
//! locally, DynamoDB when `GATEWAY_TABLE_NAME` is set.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::{admin_error, master_only, AdminError};
use crate::gateway::Gateway;
use crate::http::ApiError;
use crate::keys::KeyHash;
use crate::openai::response::unix_now;
use crate::usage::{
    self, AggregateRow, GroupBy, LogQuery, Period, ReportQuery, SpendError, SpendStore,
};

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Spend logs answer at most this many records unless `limit` asks for fewer.
pub const DEFAULT_LOG_LIMIT: usize = 1000;
pub const MAX_LOG_LIMIT: usize = 10_000;
/// A report with no `start_date` covers this many days before `end_date`.
pub const DEFAULT_REPORT_DAYS: u64 = 30;

fn bad(param: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        message.into(),
    )
    .with_param(param)
}

fn unavailable(err: &SpendError) -> ApiError {
    admin_error(AdminError::Unavailable(err.to_string()))
}

/// The master key, or the error to answer with; then the store.
async fn admin<'g>(
    gateway: &'g Gateway,
    headers: &HeaderMap,
) -> Result<&'g dyn SpendStore, ApiError> {
    master_only(gateway, headers).await?;
    gateway.spend_store().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "invalid_request_error",
            "This gateway's usage sink keeps no records to report on.",
        )
    })
}

fn params(query: Params) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(map)| map)
        .map_err(|err| bad("query", format!("unreadable query string: {err}")))
}

fn text(params: &HashMap<String, String>, name: &str) -> Option<String> {
    params
        .get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `api_key` may be a key (`sk-...`, hashed here), its hash, or its id (the hash prefix).
fn key_id(presented: &str) -> String {
    if presented.starts_with("sk-") {
        return KeyHash::of(presented).prefix().to_owned();
    }
    let is_hash = presented.len() == 64 && presented.bytes().all(|b| b.is_ascii_hexdigit());
    match is_hash {
        true => presented[..12].to_owned(),
        false => presented.to_owned(),
    }
}

fn date(params: &HashMap<String, String>, name: &'static str) -> Result<Option<String>, ApiError> {
    match text(params, name) {
        None => Ok(None),
        Some(day) if usage::day_start_ms(&day).is_some() => Ok(Some(day)),
        Some(other) => Err(bad(
            name,
            format!("{name} must be a date YYYY-MM-DD, got {other:?}"),
        )),
    }
}

pub async fn logs(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    query: Params,
) -> Response {
    spend_logs(&gateway, &headers, query)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn spend_logs(
    gateway: &Gateway,
    headers: &HeaderMap,
    query: Params,
) -> Result<Response, ApiError> {
    let store = admin(gateway, headers).await?;
    let params = params(query)?;
    let limit = match text(&params, "limit") {
        None => DEFAULT_LOG_LIMIT,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_LOG_LIMIT).contains(&n) => n,
            _ => return Err(bad("limit", format!("limit must be 1 to {MAX_LOG_LIMIT}"))),
        },
    };
    let start = date(&params, "start_date")?;
    let end = date(&params, "end_date")?;
    let query = LogQuery {
        request_id: text(&params, "request_id"),
        key_id: text(&params, "api_key").map(|k| key_id(&k)),
        team: text(&params, "team_id"),
        user: text(&params, "user_id"),
        start_ms: start.as_deref().and_then(usage::day_start_ms),
        end_ms: end.as_deref().and_then(usage::day_end_ms),
        limit,
    };
    if let (Some(s), Some(e)) = (query.start_ms, query.end_ms) {
        if s >= e {
            return Err(bad("end_date", "end_date is before start_date"));
        }
    }
    let records = store.logs(&query).await.map_err(|e| unavailable(&e))?;
    let entries: Vec<Value> = records.into_iter().map(spend_log_entry).collect();
    Ok(Json(entries).into_response())
}

/// A record in LiteLLM's `LiteLLM_SpendLogs` shape; the whole record under `metadata`.
fn spend_log_entry(record: Map<String, Value>) -> Value {
    let field = |name: &str| record.get(name).cloned().unwrap_or(Value::Null);
    let number = |name: &str| record.get(name).and_then(Value::as_u64).unwrap_or(0);
    let start = number("started_at_ms");
    let first_token = record
        .get("time_to_first_token_ms")
        .and_then(Value::as_u64)
        .map(|t| usage::rfc3339(start + t));
    let failed = record
        .get("outcome")
        .and_then(Value::as_str)
        .is_some_and(|o| o != "success");
    let model = record
        .get("provider_model")
        .filter(|m| !m.is_null())
        .cloned()
        .unwrap_or_else(|| field("model"));
    json!({
        "request_id": field("request_id"),
        "api_key": field("key_id"),
        "key_alias": field("key_alias"),
        "call_type": "acompletion",
        "model": model,
        "model_group": field("model"),
        "model_id": field("deployment_id"),
        "api_base": "",
        "spend": record.get("cost_usd").and_then(Value::as_f64).unwrap_or(0.0),
        "total_tokens": number("total_tokens"),
        "prompt_tokens": number("prompt_tokens"),
        "completion_tokens": number("completion_tokens"),
        "startTime": usage::rfc3339(start),
        "endTime": usage::rfc3339(start + number("latency_ms")),
        "completionStartTime": first_token,
        "user": record.get("user").and_then(Value::as_str).unwrap_or(""),
        "team_id": field("team"),
        "session_id": field("session_id"),
        "status": if failed { "failure" } else { "success" },
        "cache_hit": "False",
        "cache_key": Value::Null,
        "request_tags": [],
        "requester_ip_address": Value::Null,
        "messages": {},
        "response": {},
        "metadata": Value::Object(record),
    })
}

/// The period, grouping and dates of a report request.
fn report_query(params: &HashMap<String, String>, period: Period) -> Result<ReportQuery, ApiError> {
    let group_by = match text(params, "group_by").as_deref() {
        None | Some("team") => GroupBy::Team,
        Some("api_key" | "key") => GroupBy::Key,
        Some(other) => {
            return Err(bad(
                "group_by",
                format!("group_by must be team or api_key, got {other:?}"),
            ))
        }
    };
    let end_day = date(params, "end_date")?.unwrap_or_else(|| usage::day(unix_now() * 1000));
    let start_day = match date(params, "start_date")? {
        Some(day) => day,
        None => {
            let end_ms = usage::day_start_ms(&end_day).unwrap_or(0);
            usage::days_before(end_ms, DEFAULT_REPORT_DAYS)
        }
    };
    if start_day > end_day {
        return Err(bad("end_date", "end_date is before start_date"));
    }
    Ok(ReportQuery {
        period,
        group_by,
        team: text(params, "team_id"),
        key_id: text(params, "api_key").map(|k| key_id(&k)),
        start_day,
        end_day,
    })
}

/// `GET /spend/report?period=day|month&group_by=team|api_key&team_id=&api_key=&start_date=&end_date=`
pub async fn report(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    query: Params,
) -> Response {
    spend_report(&gateway, &headers, query)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn spend_report(
    gateway: &Gateway,
    headers: &HeaderMap,
    query: Params,
) -> Result<Response, ApiError> {
    let store = admin(gateway, headers).await?;
    let params = params(query)?;
    let period = match text(&params, "period").as_deref() {
        None | Some("day" | "daily") => Period::Day,
        Some("month" | "monthly") => Period::Month,
        Some(other) => {
            return Err(bad(
                "period",
                format!("period must be day or month, got {other:?}"),
            ))
        }
    };
    let query = report_query(&params, period)?;
    let rows = store.report(&query).await.map_err(|e| unavailable(&e))?;
    Ok(Json(json!({
        "period": query.period,
        "group_by": query.group_by,
        "start_date": query.start_day,
        "end_date": query.end_day,
        "data": rows,
    }))
    .into_response())
}

/// `GET /global/spend/report` (LiteLLM): per day, per team, spend per model.
pub async fn global_report(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    query: Params,
) -> Response {
    global_spend_report(&gateway, &headers, query)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn global_spend_report(
    gateway: &Gateway,
    headers: &HeaderMap,
    query: Params,
) -> Result<Response, ApiError> {
    let store = admin(gateway, headers).await?;
    let params = params(query)?;
    if text(&params, "group_by").is_some_and(|g| g != "team") {
        return Err(bad(
            "group_by",
            "this gateway's /global/spend/report groups by team; per key: /spend/report?group_by=api_key",
        ));
    }
    let query = report_query(&params, Period::Day)?;
    let rows = store.report(&query).await.map_err(|e| unavailable(&e))?;
    Ok(Json(litellm_team_report(rows)).into_response())
}

/// `[{group_by_day, teams: [{team_name, total_spend, metadata: [{model, spend, total_tokens}]}]}]`
fn litellm_team_report(rows: Vec<AggregateRow>) -> Value {
    let mut days: BTreeMap<String, BTreeMap<String, Vec<AggregateRow>>> = BTreeMap::new();
    for row in rows {
        let team = row.team.clone().unwrap_or_default();
        days.entry(row.period.clone())
            .or_default()
            .entry(team)
            .or_default()
            .push(row);
    }
    let days: Vec<Value> = days
        .into_iter()
        .map(|(day, teams)| {
            let teams: Vec<Value> = teams
                .into_iter()
                .map(|(team, rows)| {
                    let total: f64 = rows.iter().map(|r| r.spend).sum();
                    let models: Vec<Value> = rows
                        .iter()
                        .map(|r| {
                            json!({"model": r.model, "spend": r.spend,
                                        "total_tokens": r.total_tokens, "requests": r.requests})
                        })
                        .collect();
                    json!({"team_name": team, "team_id": team, "total_spend": total,
                           "metadata": models})
                })
                .collect();
            json!({"group_by_day": day, "teams": teams})
        })
        .collect();
    Value::Array(days)
}
