//! Prometheus metrics, scoped to one gateway (no global recorder, so tests can run several).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use llmpool::Attempt;
use llmpool::QuotaStatus;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    endpoint: &'static str,
    outcome: &'static str,
}

// Labels recorded per request are static strings, so recording allocates nothing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    provider: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptProviderLabels {
    provider: &'static str,
}

/// Quota gauges are refreshed from the status report at scrape time.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<OutcomeLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    request_seconds: Family<OutcomeLabels, Histogram>,
    attempt_seconds: Family<AttemptProviderLabels, Histogram>,
    remaining_today: Family<ProviderLabels, Gauge>,
    calls_today: Family<ProviderLabels, Gauge>,
    render_lock: Mutex<()>,
}

fn latency_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("llmpool");
        let requests = Family::<OutcomeLabels, Counter>::default();
        let attempts = Family::<AttemptLabels, Counter>::default();
        let request_seconds = Family::<OutcomeLabels, Histogram>::new_with_constructor(
            latency_buckets as fn() -> Histogram,
        );
        let attempt_seconds = Family::<AttemptProviderLabels, Histogram>::new_with_constructor(
            latency_buckets as fn() -> Histogram,
        );
        let remaining_today = Family::<ProviderLabels, Gauge>::default();
        let calls_today = Family::<ProviderLabels, Gauge>::default();
        registry.register(
            "requests",
            "Client requests by endpoint and outcome",
            requests.clone(),
        );
        registry.register(
            "attempts",
            "Upstream attempts by provider and outcome (ok or the error kind)",
            attempts.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Client request latency through the gateway",
            request_seconds.clone(),
        );
        registry.register(
            "attempt_duration_seconds",
            "Upstream attempt latency by provider",
            attempt_seconds.clone(),
        );
        registry.register(
            "quota_remaining_today",
            "Requests left today by provider (sum over its routes with a known daily limit)",
            remaining_today.clone(),
        );
        registry.register(
            "calls_today",
            "Requests counted today by provider",
            calls_today.clone(),
        );
        Self {
            registry,
            requests,
            attempts,
            request_seconds,
            attempt_seconds,
            remaining_today,
            calls_today,
            render_lock: Mutex::new(()),
        }
    }

    /// Records one client request and its attempts.
    pub fn record(
        &self,
        endpoint: &'static str,
        outcome: &'static str,
        elapsed: Duration,
        attempts: &[Attempt],
    ) {
        let labels = OutcomeLabels { endpoint, outcome };
        self.requests.get_or_create(&labels).inc();
        self.request_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        for a in attempts {
            let outcome = a.error.map_or("ok", |k| k.as_str());
            self.attempts
                .get_or_create(&AttemptLabels {
                    provider: a.provider,
                    outcome,
                })
                .inc();
            self.attempt_seconds
                .get_or_create(&AttemptProviderLabels {
                    provider: a.provider,
                })
                .observe(a.latency.as_secs_f64());
        }
    }

    /// Renders the text exposition, refreshing quota gauges from `status`.
    pub fn render(&self, status: Option<&QuotaStatus>) -> String {
        let _guard = self
            .render_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(status) = status {
            for (id, p) in &status.quota_status {
                let labels = ProviderLabels {
                    provider: id.clone(),
                };
                self.calls_today
                    .get_or_create(&labels)
                    .set(i64::try_from(p.calls_today).unwrap_or(i64::MAX));
                if let Some(max) = p.max_daily {
                    let left = max.saturating_sub(p.calls_today);
                    self.remaining_today
                        .get_or_create(&labels)
                        .set(i64::try_from(left).unwrap_or(i64::MAX));
                }
            }
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
