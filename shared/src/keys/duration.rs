//! LiteLLM's durations (`30s`, `10m`, `1h`, `1d`, `30d`, `1w`, `1mo`) for `duration` and
//! `budget_duration`.

use std::time::Duration;

/// A duration such as `30d`; `None` if it does not parse. A month (`mo`) is 30 days.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let unit_secs = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "mo" => 30 * 86_400,
        _ => return None,
    };
    let secs = n.checked_mul(unit_secs)?;
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn litellm_units() {
        let secs = |t| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(secs("30s"), Some(30));
        assert_eq!(secs("10m"), Some(600));
        assert_eq!(secs("1h"), Some(3600));
        assert_eq!(secs("1d"), Some(86_400));
        assert_eq!(secs("30d"), Some(2_592_000));
        assert_eq!(secs("2w"), Some(1_209_600));
        assert_eq!(secs("1mo"), Some(2_592_000));
        for bad in ["", "d", "1", "1y", "-1d", "0d", "1.5h"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }
}
