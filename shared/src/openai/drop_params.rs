//! LiteLLM's `drop_params` on a chat request: the OpenAI parameters the model cannot honour
//! (what `into_chat` would refuse with a 400) are dropped, and `additional_drop_params` names
//! parameters to drop whatever they are. Applied before conversion, so the refusals themselves
//! stay in one place.

use super::into_chat::reject_unsupported;
use super::request::ChatCompletionRequest;

/// Drops what `all` and `names` say from `req`; the names of the parameters dropped, in order.
pub fn drop_params(req: &mut ChatCompletionRequest, all: bool, names: &[String]) -> Vec<String> {
    let mut dropped = Vec::new();
    for name in names {
        if clear(req, name) {
            dropped.push(name.clone());
        }
    }
    if all {
        // Each refusal names one parameter: clear it and look again (a bounded loop: each turn
        // clears a field that was set, and there are only so many).
        for _ in 0..32 {
            let Err(err) = reject_unsupported(req) else {
                break;
            };
            let Some(param) = err.param().map(str::to_owned) else {
                break;
            };
            if !clear(req, &param) {
                break;
            }
            dropped.push(param);
        }
    }
    dropped
}

/// Clears the parameter `name`; whether it was set.
fn clear(req: &mut ChatCompletionRequest, name: &str) -> bool {
    fn take<T>(field: &mut Option<T>) -> bool {
        field.take().is_some()
    }
    match name {
        "n" => take(&mut req.n),
        "logprobs" => take(&mut req.logprobs) | take(&mut req.top_logprobs),
        "top_logprobs" => take(&mut req.top_logprobs),
        "presence_penalty" => take(&mut req.presence_penalty),
        "frequency_penalty" => take(&mut req.frequency_penalty),
        "logit_bias" => take(&mut req.logit_bias),
        "response_format" => take(&mut req.response_format),
        "modalities" | "audio" => take(&mut req.modalities) | take(&mut req.audio),
        "temperature" => take(&mut req.temperature),
        "top_p" => take(&mut req.top_p),
        "max_tokens" => take(&mut req.max_tokens),
        "max_completion_tokens" => take(&mut req.max_completion_tokens),
        "stop" => take(&mut req.stop),
        "tools" => take(&mut req.tools) | take(&mut req.tool_choice),
        "tool_choice" => take(&mut req.tool_choice),
        "user" => take(&mut req.user),
        "stream_options" => take(&mut req.stream_options),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(extra: serde_json::Value) -> ChatCompletionRequest {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn all_drops_only_what_would_be_refused() {
        let mut req = request(
            json!({"n": 2, "presence_penalty": 0.5, "logit_bias": {"1": 2},
            "logprobs": true, "top_logprobs": 2, "temperature": 0.3}),
        );
        assert!(reject_unsupported(&req).is_err());
        let dropped = drop_params(&mut req, true, &[]);
        assert!(reject_unsupported(&req).is_ok());
        assert_eq!(dropped, ["n", "logprobs", "presence_penalty", "logit_bias"]);
        assert_eq!(req.temperature, Some(0.3), "a supported parameter stays");
    }

    #[test]
    fn named_parameters_go_whatever_they_are_and_nothing_else() {
        let mut req = request(json!({"temperature": 0.3, "n": 2, "user": "u"}));
        let dropped = drop_params(&mut req, false, &["temperature".into(), "seed".into()]);
        assert_eq!(dropped, ["temperature"]);
        assert_eq!(req.temperature, None);
        assert_eq!(req.n, Some(2));
        assert!(
            reject_unsupported(&req).is_err(),
            "n still refused without drop_params"
        );
    }
}
