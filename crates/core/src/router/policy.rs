//! Ordering strategies over the routes that may be tried now.
//!
//! The router hands over the available routes (health and key checks passed) in base
//! order: provider priority (settings override, else the factory's default), then the
//! provider's models in catalog/settings order, then its keys. Keys of one
//! (provider, model) are rotated per request so several keys share the load.
//!
//! - `priority`: base order;
//! - `round_robin`: smooth weighted round robin over providers (nginx's algorithm: exact
//!   proportions, evenly interleaved); the chosen provider's routes first, then the rest
//!   in base order;
//! - `least_used`: routes with the largest remaining share of their daily quota first
//!   (monthly when no daily limit is known; unknown limits count as untouched), ties in
//!   base order;
//! - `latency`: power of two choices: two random providers, the one with the lower
//!   latency EWMA first (an unmeasured provider counts as fastest, so it gets measured),
//!   then the rest by EWMA.
//!
//! An explicit `routes` chain bypasses the strategy: its order is the order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rand::Rng;
use rand::rngs::StdRng;

use crate::config::Strategy;
use crate::router::route::Route;

/// What a strategy needs besides the routes.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    /// Per route id: remaining share of its daily (else monthly) quota, in [0, 1].
    pub(crate) remaining_share: HashMap<String, f64>,
    /// Per provider: latency EWMA in milliseconds.
    pub(crate) latency: HashMap<&'static str, Option<f64>>,
    /// Per provider: round-robin weight.
    pub(crate) weights: HashMap<&'static str, u32>,
}

#[derive(Debug, Default)]
struct State {
    rr_current: HashMap<&'static str, i64>,
    rotation: HashMap<String, usize>,
}

/// Strategy state shared by every request of a router.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    state: Mutex<State>,
}

impl Policy {
    /// Orders `routes` (given in base order) for one request.
    pub(crate) fn order(
        &self,
        strategy: Strategy,
        routes: Vec<Arc<Route>>,
        inputs: &Inputs,
        rng: &mut StdRng,
    ) -> Vec<Arc<Route>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let routes = rotate_keys(&mut state, routes);
        match strategy {
            Strategy::Priority => routes,
            Strategy::RoundRobin => round_robin(&mut state, routes, inputs),
            Strategy::LeastUsed => {
                let mut routes = routes;
                routes.sort_by(|a, b| {
                    let share =
                        |r: &Route| inputs.remaining_share.get(&r.id).copied().unwrap_or(1.0);
                    share(b).total_cmp(&share(a))
                });
                routes
            }
            Strategy::Latency => latency(routes, inputs, rng),
        }
    }

    /// An explicit chain: its order, with keys rotated.
    pub(crate) fn chain(&self, routes: Vec<Arc<Route>>) -> Vec<Arc<Route>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        rotate_keys(&mut state, routes)
    }
}

/// Rotates each run of routes sharing (provider, model) by a per-group counter.
fn rotate_keys(state: &mut State, routes: Vec<Arc<Route>>) -> Vec<Arc<Route>> {
    let mut out = Vec::with_capacity(routes.len());
    let mut group: Vec<Arc<Route>> = Vec::new();
    let mut flush = |group: &mut Vec<Arc<Route>>, out: &mut Vec<Arc<Route>>| {
        if group.len() > 1 {
            let name = format!("{}/{}", group[0].provider, group[0].model);
            let counter = state.rotation.entry(name).or_insert(0);
            let shift = *counter % group.len();
            *counter = counter.wrapping_add(1);
            group.rotate_left(shift);
        }
        out.append(group);
    };
    for r in routes {
        if group
            .last()
            .is_some_and(|g| g.provider != r.provider || g.model != r.model)
        {
            flush(&mut group, &mut out);
        }
        group.push(r);
    }
    flush(&mut group, &mut out);
    out
}

fn providers_of(routes: &[Arc<Route>]) -> Vec<&'static str> {
    let mut seen = Vec::new();
    for r in routes {
        if !seen.contains(&r.provider) {
            seen.push(r.provider);
        }
    }
    seen
}

fn first_provider(routes: Vec<Arc<Route>>, chosen: &str) -> Vec<Arc<Route>> {
    let (mut first, rest): (Vec<_>, Vec<_>) =
        routes.into_iter().partition(|r| r.provider == chosen);
    first.extend(rest);
    first
}

fn round_robin(state: &mut State, routes: Vec<Arc<Route>>, inputs: &Inputs) -> Vec<Arc<Route>> {
    let providers = providers_of(&routes);
    let mut total = 0_i64;
    let mut best: Option<(&'static str, i64)> = None;
    for p in &providers {
        let weight = i64::from(inputs.weights.get(p).copied().unwrap_or(1).max(1));
        total += weight;
        let current = state.rr_current.entry(p).or_insert(0);
        *current += weight;
        if best.is_none_or(|(_, c)| *current > c) {
            best = Some((p, *current));
        }
    }
    let Some((chosen, _)) = best else {
        return routes;
    };
    if let Some(c) = state.rr_current.get_mut(chosen) {
        *c -= total;
    }
    first_provider(routes, chosen)
}

fn latency(routes: Vec<Arc<Route>>, inputs: &Inputs, rng: &mut StdRng) -> Vec<Arc<Route>> {
    let ewma = |p: &str| inputs.latency.get(p).copied().flatten().unwrap_or(0.0);
    let mut providers = providers_of(&routes);
    if providers.len() < 2 {
        return routes;
    }
    let a = rng.random_range(0..providers.len());
    let mut b = rng.random_range(0..providers.len() - 1);
    if b >= a {
        b += 1;
    }
    let winner = if ewma(providers[b]) < ewma(providers[a]) {
        providers[b]
    } else {
        providers[a]
    };
    providers.sort_by(|x, y| ewma(x).total_cmp(&ewma(y)));
    providers.retain(|p| *p != winner);
    providers.insert(0, winner);
    let mut out = Vec::with_capacity(routes.len());
    for p in providers {
        out.extend(routes.iter().filter(|r| r.provider == p).cloned());
    }
    out
}
