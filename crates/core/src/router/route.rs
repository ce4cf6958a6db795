//! Routes: (provider, model, key) triples the router walks, and how a request targets them.

use std::sync::Arc;

use crate::catalog::{Capabilities, Limits, ModelInfo};
use crate::health::RouteRef;
use crate::ledger::{DayRule, RouteQuota, Scope};
use crate::provider::{Provider, ProviderFactory};
use crate::router::in_flight::{InFlight, KeyGauges, Limit};
use crate::types::{ChatRequest, Message, Missing, Needs, flag};

/// One compiled-in provider as the router sees it.
#[derive(Debug)]
pub(crate) struct ProviderEntry {
    pub(crate) factory: &'static ProviderFactory,
    pub(crate) enabled: bool,
    pub(crate) priority: u32,
    pub(crate) weight: u32,
    pub(crate) day: DayRule,
    pub(crate) keys: Vec<KeyEntry>,
    /// Models with their catalog limits, flags and buckets, in order.
    pub(crate) models: Vec<ModelInfo>,
    /// Models of the catalog that the `models` setting leaves out: a client may pin them.
    pub(crate) outside: Vec<ModelInfo>,
    /// Limits shared by all models of one key: the catalog's `[shared]`.
    pub(crate) shared_catalog: Limits,
    /// Explicit limits for a model (settings), provider level then `model_limits`.
    pub(crate) settings: crate::config::ProviderSettings,
    /// Ids of the models whose capabilities the provider's own catalog states (none for a
    /// `kind = "openai"` provider, whose catalog is made from its settings).
    pub(crate) described: Vec<String>,
}

impl ProviderEntry {
    pub(crate) fn id(&self) -> &'static str {
        self.factory.id
    }

    pub(crate) fn explicit_limits(&self, model: &str) -> Limits {
        self.settings.limits_for(model)
    }

    /// Explicit limits shared by all models of one key (settings).
    pub(crate) fn shared_explicit(&self) -> Limits {
        self.settings.shared_limits(&self.shared_catalog)
    }

    /// The catalog entry of `model` (the settings' capability override applied), or one
    /// without known limits for a model the catalog does not list.
    pub(crate) fn model_info(&self, model: &str) -> ModelInfo {
        self.models
            .iter()
            .find(|m| m.id == model)
            .cloned()
            .unwrap_or_else(|| {
                let mut info = ModelInfo::new(model);
                if let Some(over) = self.settings.capabilities_for(model) {
                    over.apply(&mut info);
                }
                info
            })
    }

    /// The capabilities of `model` (its settings-merged entry) as a route checks them: a
    /// yes/no capability is known when the catalog describes the model or the settings'
    /// override states it.
    pub(crate) fn caps(&self, model: &ModelInfo) -> Caps {
        let described = self.described.contains(&model.id);
        let stated = self
            .settings
            .capabilities_for(&model.id)
            .map_or(0, crate::config::CapabilityOverride::stated);
        Caps {
            has: model.flags(),
            known: if described { flag::ALL_BITS } else { stated },
            max_output_tokens: model.max_output_tokens,
        }
    }

    pub(crate) fn prefill(&self, catalog_flag: bool) -> bool {
        self.settings.prefill.unwrap_or(catalog_flag)
    }
}

#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub(crate) label: String,
    pub(crate) client: Arc<dyn Provider>,
    /// Requests in flight on this key, and on each of its models with a limit.
    pub(crate) gauges: KeyGauges,
}

/// A (provider, model, key) the router may call.
#[derive(Debug)]
pub(crate) struct Route {
    /// `provider/model@key`.
    pub(crate) id: String,
    /// `provider@key`: the key's identity, and the counter id of its shared windows.
    pub(crate) key_id: String,
    /// Counter id of the route's own windows: `id`, or `provider[bucket]@key` when the
    /// model shares a quota bucket with others.
    pub(crate) quota_id: String,
    pub(crate) provider: &'static str,
    pub(crate) model: String,
    pub(crate) key: String,
    /// The catalog's quota bucket of the model, if any.
    pub(crate) bucket: Option<String>,
    pub(crate) client: Arc<dyn Provider>,
    pub(crate) catalog_limits: Limits,
    pub(crate) explicit_limits: Limits,
    pub(crate) shared_catalog_limits: Limits,
    pub(crate) shared_explicit_limits: Limits,
    pub(crate) prefill: bool,
    pub(crate) day: DayRule,
    /// The model's context window in tokens (catalog `context_window`), when known.
    pub(crate) context_window: Option<u64>,
    /// What the model can do, precomputed: a request's check is a mask operation.
    pub(crate) caps: Caps,
    /// The `max_in_flight` limits of the model (per key) and of the key; none on most
    /// routes, which then take no counter at all.
    pub(crate) in_flight: InFlight,
}

/// A route's capabilities as bits of `flag` (see [`Route::lacks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    /// Capabilities the model has.
    pub(crate) has: u8,
    /// Capabilities known of the model: only these can make a route skip a request.
    pub(crate) known: u8,
    /// Most tokens one answer may have, when known.
    pub(crate) max_output_tokens: Option<u64>,
}

impl Route {
    pub(crate) fn new(entry: &ProviderEntry, model: &ModelInfo, key: &KeyEntry) -> Self {
        let provider = entry.id();
        let id = format!("{provider}/{}@{}", model.id, key.label);
        let quota_id = match &model.bucket {
            Some(bucket) => format!("{provider}[{bucket}]@{}", key.label),
            None => id.clone(),
        };
        let explicit_limits = entry.explicit_limits(&model.id);
        let shared_explicit_limits = entry.shared_explicit();
        let in_flight = InFlight {
            own: explicit_limits
                .max_in_flight
                .or(model.max_in_flight)
                .map(|max| Limit {
                    gauge: key.gauges.own(&quota_id),
                    max,
                }),
            key: shared_explicit_limits
                .max_in_flight
                .or(entry.shared_catalog.max_in_flight)
                .map(|max| Limit {
                    gauge: key.gauges.key(),
                    max,
                }),
        };
        Self {
            id,
            key_id: format!("{provider}@{}", key.label),
            quota_id,
            provider,
            model: model.id.clone(),
            key: key.label.clone(),
            bucket: model.bucket.clone(),
            client: Arc::clone(&key.client),
            catalog_limits: model.limits(),
            explicit_limits,
            shared_catalog_limits: entry.shared_catalog,
            shared_explicit_limits,
            prefill: entry.prefill(model.prefill),
            day: entry.day,
            context_window: model.context_window,
            caps: entry.caps(model),
            in_flight,
        }
    }

    /// The first capability the route's model is known to lack for a request needing
    /// `needs` (of which `bits` are the flags), the context window aside (see `Fit`).
    /// A plain request costs one comparison of bits and one of an `Option`.
    pub(crate) fn lacks(&self, needs: &Needs, bits: u8) -> Option<Missing> {
        let lacking = bits & self.caps.known & !self.caps.has;
        if lacking != 0 {
            return Missing::first_of(lacking);
        }
        match (needs.max_output_tokens, self.caps.max_output_tokens) {
            (Some(requested), Some(max)) if u64::from(requested) > max => {
                Some(Missing::MaxOutputTokens {
                    requested,
                    max: u32::try_from(max).unwrap_or(u32::MAX),
                })
            }
            _ => None,
        }
    }

    /// Whether the route's model is known to have the capability `missing` names (for a
    /// size, enough of it).
    pub(crate) fn has(&self, missing: &Missing) -> bool {
        let bit = match missing {
            Missing::ContextWindow { needed, .. } => {
                return self.context_window.is_some_and(|w| w >= *needed);
            }
            Missing::MaxOutputTokens { requested, .. } => {
                return self
                    .caps
                    .max_output_tokens
                    .is_some_and(|m| m >= u64::from(*requested));
            }
            flagged => flagged.flag().unwrap_or(0),
        };
        self.caps.known & self.caps.has & bit != 0
    }

    /// What the route's model can do, for reports.
    pub(crate) fn capabilities(&self) -> Capabilities {
        Capabilities::from_bits(
            self.caps.has,
            self.caps.known,
            self.context_window,
            self.caps.max_output_tokens,
        )
    }

    /// Whether `other` counts in the same windows of `scope` as this route.
    pub(crate) fn shares(&self, other: &Route, scope: Scope) -> bool {
        match scope {
            Scope::Own => self.quota_id == other.quota_id,
            Scope::Key => self.key_id == other.key_id,
        }
    }

    pub(crate) fn href(&self) -> RouteRef<'_> {
        RouteRef {
            provider: self.provider,
            key_id: &self.key_id,
            route_id: &self.id,
        }
    }

    pub(crate) fn quota(&self) -> RouteQuota<'_> {
        RouteQuota {
            id: &self.quota_id,
            key_id: &self.key_id,
            day: self.day,
            catalog: self.catalog_limits,
            explicit: self.explicit_limits,
            shared_catalog: self.shared_catalog_limits,
            shared_explicit: self.shared_explicit_limits,
        }
    }

    /// The request as this route gets it: its model, and when `prefill` is not empty,
    /// the text already delivered as a trailing assistant message.
    pub(crate) fn request(&self, req: &ChatRequest, prefill: &str, stream: bool) -> ChatRequest {
        let mut out = req.clone();
        out.model = Some(self.model.clone());
        out.stream = stream;
        if !prefill.is_empty() {
            out.messages.push(Message::assistant(prefill));
        }
        out
    }
}

/// What a request's `model` field asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Let the policy choose.
    Auto,
    /// Any route of this provider.
    Provider(&'static str),
    /// This provider's route for this model (a one-off route when neither catalog nor
    /// settings list it and the provider allows unknown models).
    Route(&'static str, String),
    /// Any route whose model id is this.
    Model(String),
}
