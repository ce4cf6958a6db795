//! Reservations and refunds: one slot taken atomically in every own and shared window of a
//! route, its token estimate corrected with the reported usage, and a failed attempt
//! settled by what the upstream may have counted.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::calendar::{WindowKind, Windows};
use super::{Ledger, RouteQuota, Scope};
use crate::error::{ErrorKind, ProviderError, StoreError};
use crate::store::{Acquire, CounterCheck};
use crate::types::Usage;

/// One counter a reservation charged.
#[derive(Debug, Clone)]
pub(super) struct Charge {
    key: String,
    ttl: Duration,
    cost: u64,
    tokens: bool,
}

impl Charge {
    fn cost_i64(&self) -> i64 {
        i64::try_from(self.cost).unwrap_or(i64::MAX)
    }
}

/// A slot taken for one attempt; reconciled after it.
#[derive(Debug, Clone)]
pub(crate) struct Reservation {
    charges: Vec<Charge>,
}

/// Outcome of [`Ledger::acquire`].
#[derive(Debug)]
pub(crate) enum Grant {
    Granted(Reservation),
    Denied {
        window: WindowKind,
        until: DateTime<Utc>,
        scope: Scope,
    },
}

impl Ledger {
    /// Takes one request slot and the estimated tokens in every own window of the route
    /// and every shared window of its key, atomically; nothing is counted when any window
    /// is full.
    pub(crate) async fn acquire(
        &self,
        route: &RouteQuota<'_>,
        tokens: u64,
    ) -> Result<Grant, StoreError> {
        let now = self.clock.now();
        let w = Windows::at(now, route.day);
        let own = self.limits(route);
        let shared = self.shared_limits(route);
        let mut windows = Vec::with_capacity(2 * WindowKind::ALL.len());
        for kind in WindowKind::ALL {
            let limit = kind.limit(&own);
            if kind.always_counted() || limit.is_some() {
                windows.push((kind, Scope::Own, route.id, limit));
            }
        }
        for kind in WindowKind::ALL {
            if let Some(limit) = kind.limit(&shared) {
                windows.push((kind, Scope::Key, route.key_id, Some(limit)));
            }
        }
        let mut checks = Vec::with_capacity(windows.len());
        let mut charges = Vec::with_capacity(windows.len());
        for &(kind, _, id, limit) in &windows {
            let limit = limit.unwrap_or(u64::MAX);
            // A request larger than a whole token window could never be granted; it is
            // charged as the whole window instead, and the upstream decides.
            let cost = if kind.is_tokens() {
                tokens.min(limit)
            } else {
                1
            };
            let keys = self.keys.get(&w, id, kind);
            let key = keys.current.clone();
            let ttl = w.ttl(kind, now);
            // Earlier sub-buckets count in full: never less than a rolling window holds.
            let previous = keys.previous.clone();
            charges.push(Charge {
                key: key.clone(),
                ttl,
                cost,
                tokens: kind.is_tokens(),
            });
            checks.push(CounterCheck {
                key,
                limit,
                cost,
                ttl,
                previous,
            });
        }
        Ok(match self.store.try_acquire(&checks).await? {
            Acquire::Granted => Grant::Granted(Reservation { charges }),
            Acquire::Denied { index, .. } => {
                let (window, scope) = windows
                    .get(index)
                    .map_or((WindowKind::RequestsMinute, Scope::Own), |w| (w.0, w.1));
                Grant::Denied {
                    window,
                    until: w.end(window),
                    scope,
                }
            }
        })
    }

    /// Corrects the token estimate with the reported usage, in every window charged.
    pub(crate) async fn reconcile(
        &self,
        reservation: &Reservation,
        usage: Option<&Usage>,
    ) -> Result<(), StoreError> {
        let Some(usage) = usage else {
            return Ok(());
        };
        let actual = if usage.total_tokens > 0 {
            usage.total_tokens
        } else {
            usage.prompt_tokens.saturating_add(usage.completion_tokens)
        };
        let actual = i64::try_from(actual).unwrap_or(i64::MAX);
        self.settle(reservation, |c| c.tokens.then_some(actual - c.cost_i64()))
            .await
    }

    /// Settles a failed attempt: a call that never reached the upstream (connection
    /// refused) gives everything back; one the upstream refused with an error gives its
    /// tokens back; one that may have been answered upstream after all (a timeout, a
    /// connection lost on the way back, an unreadable or filtered answer) keeps its token
    /// estimate, since the upstream may have counted them.
    pub(crate) async fn failed(
        &self,
        reservation: &Reservation,
        error: &ProviderError,
    ) -> Result<(), StoreError> {
        let refund_requests = never_reached_upstream(error);
        let refund_tokens = refund_requests || !may_have_spent_tokens(&error.kind);
        self.settle(reservation, |c| {
            let refund = if c.tokens {
                refund_tokens
            } else {
                refund_requests
            };
            refund.then_some(-c.cost_i64())
        })
        .await
    }

    /// Adds to each charged counter the delta `f` gives it (none or zero: untouched), in
    /// one round trip for every window of the route and its key. Increases are committed
    /// before this returns; refunds may be deferred to the store's next commit (a crash
    /// in between leaves the counter high, never low).
    async fn settle(
        &self,
        reservation: &Reservation,
        f: impl Fn(&Charge) -> Option<i64>,
    ) -> Result<(), StoreError> {
        let (increases, refunds): (Vec<_>, Vec<_>) = reservation
            .charges
            .iter()
            .filter_map(|c| {
                f(c).filter(|delta| *delta != 0)
                    .map(|delta| (c.key.as_str(), delta, c.ttl))
            })
            .partition(|(_, delta, _)| *delta > 0);
        if !refunds.is_empty() {
            self.store.add_many_deferred(&refunds).await?;
        }
        if !increases.is_empty() {
            self.store.add_many(&increases).await?;
        }
        Ok(())
    }
}

/// Whether an attempt that failed this way may still have had its tokens counted
/// upstream: yes when the upstream may have generated an answer we did not get (or did
/// not accept); no when it answered with a refusal.
fn may_have_spent_tokens(kind: &ErrorKind) -> bool {
    match kind {
        ErrorKind::Timeout
        | ErrorKind::Network(_)
        | ErrorKind::InvalidResponse
        | ErrorKind::ContentFiltered => true,
        ErrorKind::RateLimited { .. }
        | ErrorKind::QuotaExhausted { .. }
        | ErrorKind::Unauthorized
        | ErrorKind::PaymentRequired
        | ErrorKind::BadRequest
        | ErrorKind::ModelNotFound
        | ErrorKind::ContextTooLong
        | ErrorKind::Transient { .. } => false,
    }
}

/// True when the error chain shows the connection was refused: the request never left.
pub(crate) fn never_reached_upstream(error: &ProviderError) -> bool {
    let ErrorKind::Network(source) = &error.kind else {
        return false;
    };
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        current = e.source();
    }
    false
}
