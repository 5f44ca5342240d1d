//! What a request costs: a deployment's per-token price (config, else the built-in Bedrock table)
//! and the arithmetic from Converse token counts to USD. An unknown price is `None`, never $0.

mod table;

pub use table::{PriceTable, PriceTableError, BUILTIN_JSON};

/// USD per token; cache prices are `None` where none is published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_token: f64,
    pub output_per_token: f64,
    pub cache_read_per_token: Option<f64>,
    pub cache_write_per_token: Option<f64>,
}

impl Price {
    /// The price with the config's cache prices (LiteLLM's `cache_read_input_token_cost`,
    /// `cache_creation_input_token_cost`) in place of the table's, where set.
    pub fn with_cache_prices(self, read: Option<f64>, write: Option<f64>) -> Price {
        Price {
            cache_read_per_token: read.or(self.cache_read_per_token),
            cache_write_per_token: write.or(self.cache_write_per_token),
            ..self
        }
    }
}

/// What `usage` costs: its `prompt_tokens` count the cache's tokens (OpenAI's meaning), so the
/// tokens neither read from nor written to the cache are what is left after both.
pub fn usage_cost(price: &Price, usage: &crate::chat::Usage) -> f64 {
    let read = usage.cached_tokens.unwrap_or(0);
    let write = usage.cache_write_tokens.unwrap_or(0);
    let uncached = usage
        .prompt_tokens
        .saturating_sub(read)
        .saturating_sub(write);
    cost(price, uncached, usage.completion_tokens, read, write)
}

/// A deployment's price: `input_cost_per_token` and `output_cost_per_token` from its config when
/// both are set (LiteLLM semantics: USD per token, no cache prices), else the built-in table's
/// price for `model_id` (see [`PriceTable::price`]), else `None` (cost unknown).
pub fn deployment_price(
    config_input: Option<f64>,
    config_output: Option<f64>,
    model_id: &str,
) -> Option<Price> {
    match (config_input, config_output) {
        (Some(input), Some(output)) => Some(Price {
            input_per_token: input,
            output_per_token: output,
            cache_read_per_token: None,
            cache_write_per_token: None,
        }),
        _ => PriceTable::builtin().price(model_id),
    }
}

/// The USD cost of one call from Bedrock Converse `usage`.
///
/// (For a [`crate::chat::Usage`], whose `prompt_tokens` include the cache's, use [`usage_cost`].)
/// `prompt_tokens` is Converse `inputTokens`, which with prompt caching counts only the input
/// that was neither read from nor written to the cache: AWS reports `cacheReadInputTokens` and
/// `cacheWriteInputTokens` beside it, and the total input is their sum with `inputTokens`
/// (Bedrock user guide, prompt caching). So the four counts are disjoint and each is billed at
/// its own rate; pass `inputTokens` as it comes, not an OpenAI-style total that includes the
/// cached tokens. Cache tokens of a price without a cache rate are billed at the input rate
/// (Nova, for one, publishes no cache-write price: writes bill as input).
pub fn cost(
    price: &Price,
    prompt_tokens: u32,
    completion_tokens: u32,
    cache_read_tokens: u32,
    cache_write_tokens: u32,
) -> f64 {
    let read = price.cache_read_per_token.unwrap_or(price.input_per_token);
    let write = price.cache_write_per_token.unwrap_or(price.input_per_token);
    f64::from(prompt_tokens) * price.input_per_token
        + f64::from(completion_tokens) * price.output_per_token
        + f64::from(cache_read_tokens) * read
        + f64::from(cache_write_tokens) * write
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 + 1e-9 * b.abs()
    }

    #[test]
    fn config_prices_win_when_both_are_set() {
        let haiku = "anthropic.claude-3-haiku-20240307-v1:0";
        let price = deployment_price(Some(1e-6), Some(4e-6), haiku).unwrap();
        assert_eq!(
            (price.input_per_token, price.output_per_token),
            (1e-6, 4e-6)
        );
        assert_eq!(price.cache_read_per_token, None);
        // One config price alone is not a price: the table's applies.
        let table = deployment_price(Some(1e-6), None, haiku).unwrap();
        assert!(close(table.input_per_token, 0.25e-6));
        assert!(close(table.output_per_token, 1.25e-6));
        assert_eq!(deployment_price(None, Some(4e-6), haiku), Some(table));
        // Config prices make any model id priced, even one the table does not know.
        assert!(deployment_price(Some(1e-6), Some(2e-6), "custom.model-v1").is_some());
    }

    #[test]
    fn unknown_model_without_config_has_no_price() {
        assert_eq!(deployment_price(None, None, "custom.model-v1"), None);
        assert_eq!(deployment_price(Some(1e-6), None, "custom.model-v1"), None);
    }

    #[test]
    fn cost_bills_each_token_kind_at_its_rate() {
        // Claude Sonnet 4.5, in-Region: 3.30 / 16.50, cache read 0.33, cache write 4.125 per 1M.
        let price = PriceTable::builtin()
            .price("anthropic.claude-sonnet-4-5-20250929-v1:0")
            .unwrap();
        let usd = cost(&price, 1_000, 500, 2_000, 100);
        let expected = (1_000.0 * 3.3 + 500.0 * 16.5 + 2_000.0 * 0.33 + 100.0 * 4.125) / 1e6;
        assert!(close(usd, expected), "{usd} != {expected}");
        assert!(close(cost(&price, 1_000_000, 0, 0, 0), 3.3));
        assert!(close(cost(&price, 0, 1_000_000, 0, 0), 16.5));
        assert_eq!(cost(&price, 0, 0, 0, 0), 0.0);
    }

    #[test]
    fn cache_tokens_without_a_cache_rate_bill_as_input() {
        let price = Price {
            input_per_token: 2e-6,
            output_per_token: 8e-6,
            cache_read_per_token: None,
            cache_write_per_token: None,
        };
        assert!(close(
            cost(&price, 10, 1, 100, 1_000),
            (10.0 + 100.0 + 1_000.0) * 2e-6 + 8e-6
        ));
        // Nova Pro: cache read 0.20 per 1M, no cache-write price.
        let nova = PriceTable::builtin().price("amazon.nova-pro-v1:0").unwrap();
        assert!(close(cost(&nova, 0, 0, 1_000_000, 0), 0.2));
        assert!(close(cost(&nova, 0, 0, 0, 1_000_000), 0.8));
    }
}
