//! The offered traffic: a deterministic trace of chat requests over a day.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// What the trace looks like.
#[derive(Debug, Clone, Serialize)]
pub struct TraceConfig {
    /// Requests in total (bursts included).
    pub requests: usize,
    /// Length of the trace.
    pub hours: u64,
    /// Bursts spread over the trace.
    pub bursts: usize,
    /// Requests per burst.
    pub burst_size: usize,
    /// Seconds a burst lasts.
    pub burst_secs: u64,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self {
            requests: 40_000,
            hours: 24,
            bursts: 48,
            burst_size: 50,
            burst_secs: 10,
            seed: 42,
        }
    }
}

/// One offered request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Offset from the start of the trace.
    pub at: Duration,
    /// Characters of the user's message.
    pub prompt_chars: usize,
    /// The request's `max_tokens`.
    pub max_tokens: u32,
    /// Tokens the upstream will generate (decided up front so every scenario sees the
    /// same work).
    pub completion_tokens: u64,
}

impl Arrival {
    /// Prompt tokens as the upstream counts them (about four characters a token).
    pub fn prompt_tokens(&self) -> u64 {
        u64::try_from(self.prompt_chars.div_ceil(4) + 4).unwrap_or(u64::MAX)
    }

    /// The user's message: `[c=N]` (the completion length the simulated upstream will
    /// generate) followed by filler up to `prompt_chars`.
    pub fn message(&self) -> String {
        let mut text = format!("[c={}] ", self.completion_tokens);
        while text.len() < self.prompt_chars {
            text.push_str("lorem ipsum ");
        }
        text.truncate(self.prompt_chars.max(8));
        text
    }

    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens() + self.completion_tokens
    }
}

/// Relative request rate at an hour of the day (UTC): a quiet night, a main peak in the
/// afternoon and a smaller one in the evening.
pub fn daily_curve(hour: f64) -> f64 {
    let bump = |center: f64, width: f64| (-((hour - center) / width).powi(2)).exp();
    0.25 + bump(14.0, 4.0) + 0.6 * bump(20.5, 2.0)
}

/// The trace: bursts of `burst_size` requests within `burst_secs` at random moments, the
/// rest spread by [`daily_curve`]; sorted by arrival. Same config, same trace.
pub fn generate(cfg: &TraceConfig) -> Vec<Arrival> {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let span = Duration::from_secs(cfg.hours * 3600);
    let span_s = span.as_secs_f64();
    let burst_total = (cfg.bursts * cfg.burst_size).min(cfg.requests);
    let mut times: Vec<f64> = Vec::with_capacity(cfg.requests);
    let mut left = burst_total;
    while left > 0 {
        #[expect(clippy::cast_precision_loss, reason = "seconds of a day")]
        let start = rng.random_range(0.0..(span_s - cfg.burst_secs as f64).max(1.0));
        for _ in 0..cfg.burst_size.min(left) {
            #[expect(clippy::cast_precision_loss, reason = "seconds of a day")]
            times.push(start + rng.random_range(0.0..cfg.burst_secs.max(1) as f64));
            left -= 1;
        }
    }
    let peak = (0..240)
        .map(|i| daily_curve(f64::from(i) / 10.0))
        .fold(0.0_f64, f64::max);
    // Bounded rejection sampling: the curve's floor is a quarter of its peak, so about
    // one draw in three is kept.
    let mut draws = 0_u64;
    while times.len() < cfg.requests && draws < 1_000_000_000 {
        draws += 1;
        let t = rng.random_range(0.0..span_s);
        let hour = (t / 3600.0) % 24.0;
        if rng.random_range(0.0..peak) < daily_curve(hour) {
            times.push(t);
        }
    }
    times.sort_by(f64::total_cmp);
    times
        .into_iter()
        .map(|t| Arrival {
            at: Duration::from_secs_f64(t),
            prompt_chars: rng.random_range(200..2400),
            max_tokens: 512,
            completion_tokens: rng.random_range(40..=400),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_trace_has_its_size_bursts_and_curve() {
        let cfg = TraceConfig::default();
        let trace = generate(&cfg);
        assert_eq!(trace.len(), 40_000);
        assert!(trace.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(trace.last().unwrap().at < Duration::from_secs(24 * 3600));
        // Some 10-second window holds at least a burst.
        let busiest = trace
            .iter()
            .enumerate()
            .map(|(i, a)| {
                trace[i..]
                    .iter()
                    .take_while(|b| b.at.saturating_sub(a.at) < Duration::from_secs(10))
                    .count()
            })
            .max()
            .unwrap();
        assert!(busiest >= 50, "{busiest}");
        // The afternoon is busier than the night.
        let in_hour = |h: u64| trace.iter().filter(|a| a.at.as_secs() / 3600 == h).count();
        assert!(in_hour(14) > 2 * in_hour(3));
        assert_eq!(generate(&cfg), trace);
        let other = generate(&TraceConfig { seed: 7, ..cfg });
        assert_ne!(other, trace);
    }
}
