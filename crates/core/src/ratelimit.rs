//! What a provider told us about its rate limits, parsed from response headers.

use std::time::Duration;

use serde::Serialize;

/// One limit window as the provider reports it. Every field is optional: providers tell
/// different subsets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    /// The window's limit.
    pub limit: Option<u64>,
    /// What is left in the current window.
    pub remaining: Option<u64>,
    /// Time until the window resets (or, for token buckets, refills completely).
    pub reset_after: Option<Duration>,
}

impl Window {
    /// True when nothing is known about this window.
    pub fn is_empty(&self) -> bool {
        self.limit.is_none() && self.remaining.is_none() && self.reset_after.is_none()
    }
}

/// Rate-limit state parsed from one response's headers. `Default` is "nothing known".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RateLimitSnapshot {
    /// Requests per minute.
    pub requests_minute: Window,
    /// Requests per day.
    pub requests_day: Window,
    /// Requests per month (Cohere trial keys).
    pub requests_month: Window,
    /// Tokens per minute.
    pub tokens_minute: Window,
    /// Tokens per day.
    pub tokens_day: Window,
    /// Tokens per month (Mistral's free plan). The ledger keeps no counter for it: "none
    /// left" blocks the route until the reset (or the next UTC month). Not serialised when
    /// nothing is known, so snapshots of providers without it read as before.
    #[serde(skip_serializing_if = "Window::is_empty")]
    pub tokens_month: Window,
    /// What this request was charged in the provider's own budget unit, in thousandths,
    /// when the provider says (Cloudflare's `cf-ai-neurons`: Neurons of a daily
    /// allocation). Reported only; the ledger does not count it. Not serialised when
    /// unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_milli: Option<u64>,
    /// `retry-after`, when sent.
    pub retry_after: Option<Duration>,
}

impl RateLimitSnapshot {
    /// True when the headers told nothing.
    pub fn is_empty(&self) -> bool {
        self.requests_minute.is_empty()
            && self.requests_day.is_empty()
            && self.requests_month.is_empty()
            && self.tokens_minute.is_empty()
            && self.tokens_day.is_empty()
            && self.tokens_month.is_empty()
            && self.cost_milli.is_none()
            && self.retry_after.is_none()
    }
}

/// Parses a duration the way providers write them: plain seconds (`"7"`, `"11.38"`),
/// Go durations (`"2m59.56s"`, `"1h2m3s"`, `"850ms"`, `"9m38.016s"`) or protobuf
/// durations (`"43s"`). Returns `None` for anything else, negative or non-finite values.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let mut total = 0.0_f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * factor;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_provider_durations() {
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_duration("2m59.56s"),
            Some(Duration::from_millis(179_560))
        );
        assert_eq!(
            parse_duration("9m38.016s"),
            Some(Duration::from_millis(578_016))
        );
        assert_eq!(parse_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_duration("850ms"), Some(Duration::from_millis(850)));
        assert_eq!(parse_duration("43s"), Some(Duration::from_secs(43)));
        let f = parse_duration("11.38286709785").unwrap();
        assert!((f.as_secs_f64() - 11.382_867).abs() < 1e-5);
    }

    #[test]
    fn month_tokens_and_cost_count_as_known_and_serialise_only_when_known() {
        let none = RateLimitSnapshot::default();
        let json = serde_json::to_value(none).unwrap();
        assert!(json.get("tokens_month").is_none() && json.get("cost_milli").is_none());
        let month = RateLimitSnapshot {
            tokens_month: Window {
                remaining: Some(0),
                ..Window::default()
            },
            ..RateLimitSnapshot::default()
        };
        assert!(!month.is_empty());
        assert_eq!(
            serde_json::to_value(month).unwrap()["tokens_month"]["remaining"],
            0
        );
        let cost = RateLimitSnapshot {
            cost_milli: Some(3980),
            ..RateLimitSnapshot::default()
        };
        assert!(!cost.is_empty());
        assert_eq!(serde_json::to_value(cost).unwrap()["cost_milli"], 3980);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "-3", "5x", "m5", "NaN", "inf"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
