//! LiteLLM's per-request headers in (`x-litellm-timeout`, `x-litellm-stream-timeout`,
//! `x-litellm-num-retries` or `x-litellm-max-retries`) and its response headers out (cost, deployment, retries,
//! fallbacks, overhead, the timeout and retries allowed), so clients and dashboards built for
//! LiteLLM keep working.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::chat::RouteOptions;
use crate::config::RouterSettings;
use crate::error::GatewayError;

/// Applies the routing headers to `options` (a header wins over the body).
pub fn apply_request_headers(
    headers: &HeaderMap,
    options: &mut RouteOptions,
) -> Result<(), GatewayError> {
    if let Some(t) = seconds(headers, "x-litellm-timeout")? {
        options.timeout = Some(t);
    }
    if let Some(t) = seconds(headers, "x-litellm-stream-timeout")? {
        options.stream_timeout = Some(t);
    }
    // Either name (the smaller when both); the router's `num_retries` caps what is asked
    // (`pipeline::backoff`).
    let mut asked: Option<u32> = None;
    for name in ["x-litellm-num-retries", "x-litellm-max-retries"] {
        if let Some(value) = text(headers, name) {
            let n = value.trim().parse::<u32>().map_err(|_| {
                GatewayError::invalid_request(format!("`{name}` must be a whole number"), name)
            })?;
            asked = Some(asked.map_or(n, |m| m.min(n)));
        }
    }
    if asked.is_some() {
        options.num_retries = asked;
    }
    Ok(())
}

fn text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn seconds(headers: &HeaderMap, name: &'static str) -> Result<Option<Duration>, GatewayError> {
    let Some(value) = text(headers, name) else {
        return Ok(None);
    };
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(Some)
        .ok_or_else(|| {
            GatewayError::invalid_request(
                format!("`{name}` must be a positive number of seconds"),
                name,
            )
        })
}

/// The timeout and retries a request ran under, as LiteLLM answers them
/// (`x-litellm-timeout` in seconds, `x-litellm-max-retries`).
pub struct RequestLimits {
    pub timeout: Option<Duration>,
    pub max_retries: u32,
}

impl RequestLimits {
    /// The request's own (body or headers) within the router's: a request may ask for fewer
    /// retries, never more (`pipeline::backoff`), and its timeout replaces the router's.
    pub fn of(options: &RouteOptions, settings: &RouterSettings) -> Self {
        RequestLimits {
            timeout: options.timeout.or(settings.timeout),
            max_retries: options
                .num_retries
                .map_or(settings.num_retries, |n| n.min(settings.num_retries)),
        }
    }

    pub fn write(&self, headers: &mut HeaderMap) {
        if let Some(timeout) = self.timeout {
            if let Ok(value) = HeaderValue::from_str(&format!("{}", timeout.as_secs_f64())) {
                headers.insert(HeaderName::from_static("x-litellm-timeout"), value);
            }
        }
        headers.insert(
            HeaderName::from_static("x-litellm-max-retries"),
            HeaderValue::from(self.max_retries),
        );
    }
}

/// What the response headers say about how a request was answered.
pub struct AnswerHeaders<'a> {
    pub request_id: &'a str,
    pub model_group: &'a str,
    pub deployment_id: &'a str,
    pub cost: Option<f64>,
    pub retries: u32,
    pub fallbacks: usize,
    /// The gateway's own time: the whole request less the model call.
    pub overhead: Option<Duration>,
}

impl AnswerHeaders<'_> {
    pub fn write(&self, headers: &mut HeaderMap) {
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        set("x-litellm-call-id", self.request_id.to_owned());
        set("x-litellm-model-group", self.model_group.to_owned());
        set("x-litellm-model-id", self.deployment_id.to_owned());
        if let Some(cost) = self.cost {
            set("x-litellm-response-cost", format!("{cost}"));
        }
        set("x-litellm-attempted-retries", self.retries.to_string());
        set("x-litellm-attempted-fallbacks", self.fallbacks.to_string());
        if let Some(overhead) = self.overhead {
            set(
                "x-litellm-overhead-duration-ms",
                format!("{:.3}", overhead.as_secs_f64() * 1000.0),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_override_and_bad_values_are_400s() {
        let mut headers = HeaderMap::new();
        headers.insert("x-litellm-timeout", HeaderValue::from_static("2.5"));
        headers.insert("x-litellm-num-retries", HeaderValue::from_static("4"));
        let mut options = RouteOptions {
            num_retries: Some(1),
            ..RouteOptions::default()
        };
        apply_request_headers(&headers, &mut options).unwrap();
        assert_eq!(options.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(options.num_retries, Some(4));
        headers.insert("x-litellm-max-retries", HeaderValue::from_static("2"));
        apply_request_headers(&headers, &mut options).unwrap();
        assert_eq!(options.num_retries, Some(2));
        headers.insert("x-litellm-stream-timeout", HeaderValue::from_static("-1"));
        let err = apply_request_headers(&headers, &mut options).unwrap_err();
        assert_eq!(err.param(), Some("x-litellm-stream-timeout"));
    }

    #[test]
    fn response_headers_use_litellm_names() {
        let mut headers = HeaderMap::new();
        AnswerHeaders {
            request_id: "chatcmpl-1",
            model_group: "g",
            deployment_id: "g-0",
            cost: Some(0.00042),
            retries: 2,
            fallbacks: 1,
            overhead: Some(Duration::from_micros(350)),
        }
        .write(&mut headers);
        assert_eq!(headers["x-litellm-response-cost"], "0.00042");
        assert_eq!(headers["x-litellm-model-id"], "g-0");
        assert_eq!(headers["x-litellm-attempted-retries"], "2");
        assert_eq!(headers["x-litellm-attempted-fallbacks"], "1");
        assert_eq!(headers["x-litellm-overhead-duration-ms"], "0.350");
        let mut unknown = HeaderMap::new();
        AnswerHeaders {
            cost: None,
            overhead: None,
            ..AnswerHeaders {
                request_id: "r",
                model_group: "g",
                deployment_id: "d",
                cost: None,
                retries: 0,
                fallbacks: 0,
                overhead: None,
            }
        }
        .write(&mut unknown);
        assert!(
            unknown.get("x-litellm-response-cost").is_none(),
            "unknown is not $0"
        );
    }
}
