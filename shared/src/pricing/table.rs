//! The built-in Bedrock price table: `bedrock_prices.json` parsed once, looked up by model id,
//! inference profile id or ARN.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::Deserialize;

use super::Price;

/// The table as data, compiled into the binary.
pub const BUILTIN_JSON: &str = include_str!("bedrock_prices.json");

const PER_MILLION: f64 = 1_000_000.0;

/// Why a price table was refused.
#[derive(Debug, thiserror::Error)]
pub enum PriceTableError {
    #[error("price table is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("price table: {0} must be a finite price above 0")]
    BadPrice(String),
    #[error("price table: {0}.end_of_life must be a date, YYYY-MM-DD")]
    BadDate(String),
}

/// On-demand prices per Bedrock model id (see `bedrock_prices.json` for sources and rules).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    source: String,
    as_of: String,
    #[serde(default)]
    notes: Vec<String>,
    profile_prefixes: BTreeMap<String, Prefix>,
    models: BTreeMap<String, Entry>,
}

/// What an inference profile prefix (`us`, `global`, ...) means for the price.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct Prefix {
    tier: Tier,
    /// Callable only from Regions outside the US: priced only for `uniform_regions` models.
    needs_uniform_regions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Tier {
    /// In-Region and geographic profiles: the model's top-level figures.
    Regional,
    /// Global profiles: the model's `global` block when it has one, else the top-level figures.
    Global,
}

/// USD per 1,000,000 tokens.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rates {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
}

/// One model: its regional (in-Region and geographic) rates, USD per 1,000,000 tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    /// The global-profile rates, for models AWS prices in two tiers.
    global: Option<Rates>,
    /// Priced the same in every commercial Region.
    #[serde(default)]
    uniform_regions: bool,
    /// An embedding model: it has no output tokens, so its output price is 0.
    #[serde(default)]
    embedding: bool,
    #[serde(default, rename = "note")]
    _note: Option<String>,
    /// The on-demand end-of-life date on Bedrock, where AWS publishes one (`YYYY-MM-DD`).
    end_of_life: Option<String>,
}

impl PriceTable {
    /// The table shipped in the binary, parsed on first use. Never panics: if the built-in data
    /// does not parse (a unit test guards against it), logs an error and every lookup is `None`.
    pub fn builtin() -> &'static PriceTable {
        static TABLE: OnceLock<PriceTable> = OnceLock::new();
        TABLE.get_or_init(|| load(BUILTIN_JSON))
    }

    /// Parses and checks a table in the `bedrock_prices.json` format.
    pub fn parse(json: &str) -> Result<Self, PriceTableError> {
        let table: PriceTable = serde_json::from_str(json)?;
        for (id, entry) in &table.models {
            check(id, &entry.regional(), entry.embedding)?;
            if let Some(global) = &entry.global {
                check(&format!("{id}.global"), global, entry.embedding)?;
            }
            if let Some(end) = &entry.end_of_life {
                date(end).map_err(|_| PriceTableError::BadDate(id.clone()))?;
            }
        }
        Ok(table)
    }

    /// The model's end-of-life date on Bedrock, where the table records one: `model_id` as for
    /// [`PriceTable::price`] (a profile id or ARN names its base model).
    pub fn end_of_life(&self, model_id: &str) -> Option<NaiveDate> {
        let id = model_id.trim();
        let id = match id.strip_prefix("arn:") {
            Some(arn) => arn.rsplit_once('/')?.1,
            None => id,
        };
        let entry = self.models.get(id).or_else(|| {
            let (prefix, base) = id.split_once('.')?;
            self.profile_prefixes.get(prefix)?;
            self.models.get(base)
        })?;
        date(entry.end_of_life.as_deref()?).ok()
    }

    /// Where the figures come from, and for which Region.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The date the figures were compiled.
    pub fn as_of(&self) -> &str {
        &self.as_of
    }

    /// How profiles are priced, with citations.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The on-demand price of `model_id`: a base model id, a cross-region inference profile id
    /// (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `ca.`, `global.` + base id) or the ARN of a foundation
    /// model or inference profile. `None` when the model, prefix or ARN is unknown: a cost that
    /// cannot be known is never reported as $0.
    pub fn price(&self, model_id: &str) -> Option<Price> {
        let id = model_id.trim();
        let id = match id.strip_prefix("arn:") {
            Some(arn) => arn.rsplit_once('/')?.1,
            None => id,
        };
        if let Some(entry) = self.models.get(id) {
            return Some(entry.price(Tier::Regional));
        }
        let (prefix, base) = id.split_once('.')?;
        let prefix = self.profile_prefixes.get(prefix)?;
        let entry = self.models.get(base)?;
        if prefix.needs_uniform_regions && !entry.uniform_regions {
            return None;
        }
        Some(entry.price(prefix.tier))
    }
}

impl Entry {
    fn regional(&self) -> Rates {
        Rates {
            input: self.input,
            output: self.output,
            cache_read: self.cache_read,
            cache_write: self.cache_write,
        }
    }

    fn price(&self, tier: Tier) -> Price {
        let rates = match (tier, self.global) {
            (Tier::Global, Some(global)) => global,
            _ => self.regional(),
        };
        Price {
            input_per_token: rates.input / PER_MILLION,
            output_per_token: rates.output / PER_MILLION,
            cache_read_per_token: rates.cache_read.map(|p| p / PER_MILLION),
            cache_write_per_token: rates.cache_write.map(|p| p / PER_MILLION),
        }
    }
}

/// Every price positive and finite; an embedding model's output price is exactly 0 (it has no
/// output tokens), and only an embedding model's.
fn check(id: &str, rates: &Rates, embedding: bool) -> Result<(), PriceTableError> {
    let fields = [
        ("input", Some(rates.input)),
        ("cache_read", rates.cache_read),
        ("cache_write", rates.cache_write),
    ];
    for (field, value) in fields {
        if value.is_some_and(|v| !v.is_finite() || v <= 0.0) {
            return Err(PriceTableError::BadPrice(format!("{id}.{field}")));
        }
    }
    let output_ok = if embedding {
        rates.output == 0.0
    } else {
        rates.output.is_finite() && rates.output > 0.0
    };
    if !output_ok {
        return Err(PriceTableError::BadPrice(format!("{id}.output")));
    }
    Ok(())
}

fn date(text: &str) -> Result<NaiveDate, chrono::ParseError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
}

/// Parses `json`, or logs why not and returns an empty table.
fn load(json: &str) -> PriceTable {
    PriceTable::parse(json).unwrap_or_else(|err| {
        tracing::error!(error = %err, "built-in Bedrock price table unusable; table prices are unknown");
        PriceTable::default()
    })
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
