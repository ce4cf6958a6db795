//! Builds the quota and health report (the types of [`crate::status`]) from the router's
//! routes, ledger and health; see that module for what the figures mean.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::catalog::Limits;
use crate::error::Error;
use crate::health::{Circuit, Disabled, SkipReason};
use crate::ledger::{RouteUsage, WindowKind};
use crate::router::in_flight::Limit;
use crate::router::inner::Inner;
use crate::status::{HealthState, ProviderStatus, QuotaStatus, RouteStatus};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn sum(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, v) => v,
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (Some(a), None) => Some(a),
    })
}

/// The windows the per-provider figures report.
const REPORTED: [WindowKind; 4] = [
    WindowKind::RequestsDay,
    WindowKind::RequestsMinute,
    WindowKind::TokensDay,
    WindowKind::RequestsMonth,
];

/// One key's windows: its own windows once per quota id (a bucket counts once), and its
/// shared windows.
#[derive(Debug, Default)]
struct KeyWindows {
    own: Vec<(Limits, RouteUsage)>,
    shared: Limits,
    shared_usage: RouteUsage,
    /// (in flight, limit) of each own in-flight limit, once per quota id.
    own_in_flight: Vec<(u64, u64)>,
    /// (in flight, limit) of the key's in-flight limit.
    key_in_flight: Option<(u64, u64)>,
}

impl KeyWindows {
    /// (use, limit) of one window kind for this key.
    fn figure(&self, kind: WindowKind) -> (u64, Option<u64>) {
        let own_used = self.own.iter().map(|(_, u)| u.of(kind)).sum();
        let own_max = sum(self.own.iter().map(|(l, _)| kind.limit(l)));
        match kind.limit(&self.shared) {
            None => (own_used, own_max),
            Some(shared) => {
                let every_model_limited = self.own.iter().all(|(l, _)| kind.limit(l).is_some());
                let max = match own_max {
                    Some(own) if every_model_limited => shared.min(own),
                    _ => shared,
                };
                (self.shared_usage.of(kind), Some(max))
            }
        }
    }
}

impl KeyWindows {
    /// (in flight, limit) for this key: its own limit once, else its models' summed.
    fn in_flight(&self) -> Option<(u64, u64)> {
        self.key_in_flight.or_else(|| {
            self.own_in_flight
                .iter()
                .copied()
                .reduce(|a, b| (a.0 + b.0, a.1.saturating_add(b.1)))
        })
    }
}

/// Per-provider (use, limit) of each reported window, keys added up.
fn provider_figures(keys: &[KeyWindows]) -> [(u64, Option<u64>); 4] {
    REPORTED.map(|kind| {
        let figures: Vec<(u64, Option<u64>)> = keys.iter().map(|k| k.figure(kind)).collect();
        (
            figures.iter().map(|f| f.0).sum(),
            sum(figures.iter().map(|f| f.1)),
        )
    })
}

#[expect(clippy::too_many_lines, reason = "one report, field by field")]
pub(crate) async fn build(inner: &Inner) -> Result<QuotaStatus, Error> {
    let now = inner.clock.now();
    let mut quota_status = BTreeMap::new();
    let mut failed = Vec::new();
    let mut available_providers = 0;
    for entry in &inner.providers {
        let id = entry.id();
        let health = inner.health.provider(id);
        let resets_at = crate::ledger::Windows::at(now, entry.day).next_day;
        let mut routes = Vec::new();
        // Per key: its id, the quota ids already counted, and its windows.
        let mut keys: Vec<(&str, Vec<&str>, KeyWindows)> = Vec::new();
        for route in inner.routes.iter().filter(|r| r.provider == id) {
            let quota = route.quota();
            let limits = inner.ledger.limits(&quota);
            let usage = inner.ledger.usage(&quota).await?;
            if !keys.iter().any(|(k, _, _)| *k == route.key_id) {
                let shared = inner.ledger.shared_limits(&quota);
                let shared_usage = if shared.has_windows() {
                    inner.ledger.shared_usage(&quota).await?
                } else {
                    RouteUsage::default()
                };
                keys.push((
                    &route.key_id,
                    Vec::new(),
                    KeyWindows {
                        own: Vec::new(),
                        shared,
                        shared_usage,
                        own_in_flight: Vec::new(),
                        key_in_flight: route.in_flight.key.as_ref().map(Limit::figures),
                    },
                ));
            }
            if let Some((_, counted, windows)) =
                keys.iter_mut().find(|(k, _, _)| *k == route.key_id)
                && !counted.contains(&route.quota_id.as_str())
            {
                counted.push(&route.quota_id);
                windows.own.push((limits, usage));
                if let Some(own) = &route.in_flight.own {
                    windows.own_in_flight.push(own.figures());
                }
            }
            let mut state = HealthState::Healthy;
            let mut until = None;
            if let Some(skip) = inner.health.peek(route.href()) {
                until = skip.until;
                state = match skip.reason {
                    SkipReason::KeyDisabled(Disabled::BadKey) => HealthState::DisabledBadKey,
                    SkipReason::KeyDisabled(Disabled::PaymentRequired) => {
                        HealthState::DisabledPaymentRequired
                    }
                    SkipReason::CircuitOpen => HealthState::CircuitOpen,
                    SkipReason::Probing => HealthState::HalfOpen,
                    // Busy for a moment, as a full short window is; health never parks a
                    // route for its requests in flight (the walk skips it), so this is
                    // for completeness.
                    SkipReason::RateLimited | SkipReason::InFlight => HealthState::RateLimited,
                    SkipReason::Exhausted => HealthState::Exhausted,
                    SkipReason::Parked => HealthState::CoolingDown,
                };
            } else if let Some((window, end)) = inner.ledger.room(&quota).await? {
                until = Some(end);
                state = if window.is_quota() {
                    HealthState::Exhausted
                } else {
                    HealthState::RateLimited
                };
            } else if matches!(
                health.circuit,
                Circuit::Open { .. } | Circuit::HalfOpen { .. }
            ) {
                state = HealthState::HalfOpen;
            }
            routes.push(RouteStatus {
                model: route.model.clone(),
                key: route.key.clone(),
                bucket: route.bucket.clone(),
                calls_today: usage.calls_today,
                max_daily: limits.rpd,
                calls_this_minute: usage.calls_minute,
                max_per_minute: limits.rpm,
                tokens_today: usage.tokens_today,
                max_tokens_daily: limits.tpd,
                calls_this_month: usage.calls_month,
                max_monthly: limits.rpmonth,
                available: matches!(state, HealthState::Healthy | HealthState::HalfOpen),
                state,
                resets_at: rfc3339(resets_at),
                cooldown_until: until.map(rfc3339),
                capabilities: route.capabilities(),
                max_per_second: limits.rps,
                max_in_flight: route.in_flight.own.as_ref().map(|l| l.max),
                in_flight: route.in_flight.own.as_ref().map(|l| l.gauge.current()),
                key_max_per_second: inner.ledger.shared_limits(&quota).rps,
                key_max_in_flight: route.in_flight.key.as_ref().map(|l| l.max),
                key_in_flight: route.in_flight.key.as_ref().map(|l| l.gauge.current()),
            });
        }
        let api_key_available = !entry.keys.is_empty();
        let mut keys: Vec<KeyWindows> = keys.into_iter().map(|(_, _, w)| w).collect();
        if !api_key_available {
            // What one key would get.
            let shared = entry.shared_catalog.overridden_by(&entry.shared_explicit());
            let mut one = KeyWindows {
                shared,
                key_in_flight: shared.max_in_flight.map(|max| (0, max)),
                ..KeyWindows::default()
            };
            let mut buckets: Vec<&str> = Vec::new();
            for model in &entry.models {
                if let Some(bucket) = &model.bucket {
                    if buckets.contains(&bucket.as_str()) {
                        continue;
                    }
                    buckets.push(bucket);
                }
                let limits = model
                    .limits()
                    .overridden_by(&entry.explicit_limits(&model.id));
                if let Some(max) = limits.max_in_flight {
                    one.own_in_flight.push((0, max));
                }
                one.own.push((limits, RouteUsage::default()));
            }
            keys.push(one);
        }
        let [daily, minute, tokens_daily, monthly] = provider_figures(&keys);
        let per_second = sum(keys.iter().map(|k| k.figure(WindowKind::RequestsSecond).1));
        let in_flight = keys
            .iter()
            .filter_map(KeyWindows::in_flight)
            .reduce(|a, b| (a.0 + b.0, a.1.saturating_add(b.1)));
        let available = routes.iter().any(|r| r.available);
        let state = if !entry.enabled {
            HealthState::DisabledByConfig
        } else if !api_key_available {
            HealthState::DisabledNoKey
        } else if let Circuit::Open { until } = health.circuit
            && until > now
        {
            HealthState::CircuitOpen
        } else if available {
            routes
                .iter()
                .find(|r| r.available)
                .map_or(HealthState::Healthy, |r| r.state)
        } else {
            let states: Vec<HealthState> = routes.iter().map(|r| r.state).collect();
            [
                HealthState::RateLimited,
                HealthState::CoolingDown,
                HealthState::Exhausted,
                HealthState::DisabledPaymentRequired,
                HealthState::DisabledBadKey,
                HealthState::CircuitOpen,
                HealthState::HalfOpen,
            ]
            .into_iter()
            .find(|s| states.contains(s))
            .unwrap_or(HealthState::Healthy)
        };
        let cooldown_until = match health.circuit {
            Circuit::Open { until } if until > now => Some(until),
            Circuit::Open { .. } | Circuit::HalfOpen { .. } | Circuit::Closed => None,
        }
        .or_else(|| {
            if available {
                None
            } else {
                inner
                    .routes
                    .iter()
                    .filter(|r| r.provider == id)
                    .filter_map(|r| inner.health.peek(r.href()).and_then(|s| s.until))
                    .chain(routes.iter().filter_map(|r| {
                        r.cooldown_until
                            .as_deref()
                            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                            .map(|t| t.to_utc())
                    }))
                    .min()
            }
        });
        let model = routes
            .iter()
            .find(|r| r.available)
            .or(routes.first())
            .map(|r| r.model.clone())
            .or_else(|| entry.models.first().map(|m| m.id.clone()));
        if available {
            available_providers += 1;
        }
        if state.is_failed() {
            failed.push(id.to_owned());
        }
        quota_status.insert(
            id.to_owned(),
            ProviderStatus {
                calls_today: daily.0,
                max_daily: daily.1,
                api_key_available,
                available,
                state,
                calls_this_minute: minute.0,
                max_per_minute: minute.1,
                tokens_today: tokens_daily.0,
                max_tokens_daily: tokens_daily.1,
                calls_this_month: monthly.0,
                max_monthly: monthly.1,
                resets_at: Some(rfc3339(resets_at)),
                cooldown_until: cooldown_until.map(rfc3339),
                last_error: health.last_error.clone(),
                last_error_at: health.last_error_at.map(rfc3339),
                latency_ms_ewma: health.latency_ms_ewma.map(|ms| {
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "a latency in milliseconds is positive and small"
                    )]
                    let ms = ms.round().max(0.0) as u64;
                    ms
                }),
                success_rate: health.success_rate().map(|r| (r * 1000.0).round() / 1000.0),
                priority: entry.priority,
                model,
                max_per_second: per_second,
                max_in_flight: in_flight.map(|f| f.1),
                in_flight: in_flight.map(|f| f.0),
                routes,
                note: None,
            },
        );
    }
    Ok(QuotaStatus {
        total_providers: inner.providers.len(),
        available_providers,
        failed_providers: failed,
        quota_status,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::error::ErrorKind;
    use crate::router::tests::{harness, req, settings};
    use crate::testkit::Reply;
    use crate::types::Usage;

    #[tokio::test(start_paused = true)]
    async fn quota_status_mix() {
        let mut s = settings();
        s.retry_attempts = 0;
        s.circuit_failures = 1;
        let groq = s.providers.entry("groq".into()).or_default();
        groq.rpd = Some(1000);
        groq.rpm = Some(30);
        groq.tpd = Some(200_000);
        s.providers.entry("gemini".into()).or_default().rpd = Some(500);
        let h = harness(&s, &["groq", "cerebras", "gemini", "cohere"]);
        h.fake("groq").push(
            Reply::text("a")
                .usage(Usage::new(100, 20))
                .delay(Duration::from_millis(120)),
        );
        h.fake("groq").push(
            Reply::text("b")
                .usage(Usage::new(50, 10))
                .delay(Duration::from_millis(220)),
        );
        h.router.chat(req()).await.unwrap();
        h.router.chat(req()).await.unwrap();
        h.fake("cerebras")
            .push(Reply::error(ErrorKind::Transient { status: Some(503) }));
        h.router
            .chat(req().with_model("cerebras"))
            .await
            .unwrap_err();
        h.fake("gemini")
            .push(Reply::error(ErrorKind::QuotaExhausted { until: None }));
        h.router.chat(req().with_model("gemini")).await.unwrap_err();
        h.fake("cohere").push(Reply::error(ErrorKind::Unauthorized));
        h.router.chat(req().with_model("cohere")).await.unwrap_err();
        tokio::time::advance(Duration::from_secs(2)).await;

        let status = h.router.quota_status().await.unwrap();
        assert_eq!(status.total_providers, 5);
        assert_eq!(status.available_providers, 1);
        let json = serde_json::to_string(&status).unwrap();
        crate::testkit::assert_no_key(&json);
        assert!(!json.contains("test-key"), "{json}");
        insta::assert_json_snapshot!(status);
    }
}
