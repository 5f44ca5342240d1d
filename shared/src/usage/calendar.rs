//! UTC days and months of a Unix time, and the dates the spend API accepts (`YYYY-MM-DD`).

use aws_smithy_types::date_time::{DateTime, Format};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of Unix milliseconds (what the spend API shows), always with three
/// digits of milliseconds, so the texts sort as the times do.
pub fn rfc3339(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    let whole = DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    match whole.strip_suffix('Z') {
        Some(base) => format!("{base}.{:03}Z", ms % 1000),
        None => whole,
    }
}

/// `YYYY-MM-DD` (UTC) of Unix milliseconds.
pub fn day(ms: u64) -> String {
    let mut text = rfc3339(ms);
    text.truncate(10);
    text
}

/// `YYYY-MM` (UTC) of Unix milliseconds.
pub fn month(ms: u64) -> String {
    let mut text = rfc3339(ms);
    text.truncate(7);
    text
}

/// Unix milliseconds at the start (00:00 UTC) of `YYYY-MM-DD`; `None` unless it is such a date.
pub fn day_start_ms(date: &str) -> Option<u64> {
    let shaped = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let parsed = DateTime::from_str(&format!("{date}T00:00:00Z"), Format::DateTime).ok()?;
    let ms = u64::try_from(parsed.to_millis().ok()?).ok()?;
    // The parser accepts 2026-02-31; a date that does not name itself back is not a date.
    (day(ms) == date).then_some(ms)
}

/// Unix milliseconds at the end of `YYYY-MM-DD` (exclusive: the next day's start).
pub fn day_end_ms(date: &str) -> Option<u64> {
    day_start_ms(date).map(|start| start + DAY_MS)
}

/// The day `days` before the day of `ms`.
pub fn days_before(ms: u64, days: u64) -> String {
    day(ms.saturating_sub(days * DAY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months_are_utc_and_dates_are_strict() {
        // 2026-12-02T03:36:47.123Z
        let ms = 1_796_182_607_123;
        assert_eq!(rfc3339(ms), "2026-12-02T03:36:47.123Z");
        assert_eq!(day(ms), "2026-12-02");
        assert_eq!(month(ms), "2026-12");
        let start = day_start_ms("2026-12-02").unwrap();
        assert_eq!(rfc3339(start), "2026-12-02T00:00:00.000Z");
        assert_eq!(rfc3339(start + 800), "2026-12-02T00:00:00.800Z");
        assert_eq!(day_end_ms("2026-12-02").unwrap() - start, DAY_MS);
        for bad in ["2026-2-1", "2026-02-31", "yesterday", "2026/12/02", ""] {
            assert_eq!(day_start_ms(bad), None, "{bad}");
        }
        assert_eq!(days_before(ms, 2), "2026-11-30");
    }
}
