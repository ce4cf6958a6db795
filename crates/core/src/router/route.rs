//! Routes: (provider, model, key) triples the router walks, and how a request targets them.

use std::sync::Arc;

use chrono_tz::Tz;

use crate::catalog::Limits;
use crate::health::RouteRef;
use crate::ledger::RouteQuota;
use crate::provider::{Provider, ProviderFactory};
use crate::types::{ChatRequest, Message};

/// One compiled-in provider as the router sees it.
#[derive(Debug)]
pub(crate) struct ProviderEntry {
    pub(crate) factory: &'static ProviderFactory,
    pub(crate) enabled: bool,
    pub(crate) priority: u32,
    pub(crate) weight: u32,
    pub(crate) tz: Tz,
    pub(crate) keys: Vec<KeyEntry>,
    /// Models with their catalog limits, in order.
    pub(crate) models: Vec<(String, Limits, bool)>,
    /// Explicit limits for a model (settings), provider level then `model_limits`.
    pub(crate) settings: crate::config::ProviderSettings,
}

impl ProviderEntry {
    pub(crate) fn id(&self) -> &'static str {
        self.factory.id
    }

    pub(crate) fn explicit_limits(&self, model: &str) -> Limits {
        self.settings.limits_for(model)
    }

    pub(crate) fn prefill(&self, catalog_flag: bool) -> bool {
        self.settings.prefill.unwrap_or(catalog_flag)
    }
}

#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub(crate) label: String,
    pub(crate) client: Arc<dyn Provider>,
}

/// A (provider, model, key) the router may call.
#[derive(Debug)]
pub(crate) struct Route {
    /// `provider/model@key`.
    pub(crate) id: String,
    /// `provider@key`.
    pub(crate) key_id: String,
    pub(crate) provider: &'static str,
    pub(crate) model: String,
    pub(crate) key: String,
    pub(crate) client: Arc<dyn Provider>,
    pub(crate) catalog_limits: Limits,
    pub(crate) explicit_limits: Limits,
    pub(crate) prefill: bool,
    pub(crate) tz: Tz,
}

impl Route {
    pub(crate) fn new(
        entry: &ProviderEntry,
        model: &str,
        catalog_limits: Limits,
        catalog_prefill: bool,
        key: &KeyEntry,
    ) -> Self {
        let provider = entry.id();
        Self {
            id: format!("{provider}/{model}@{}", key.label),
            key_id: format!("{provider}@{}", key.label),
            provider,
            model: model.to_owned(),
            key: key.label.clone(),
            client: Arc::clone(&key.client),
            catalog_limits,
            explicit_limits: entry.explicit_limits(model),
            prefill: entry.prefill(catalog_prefill),
            tz: entry.tz,
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
            id: &self.id,
            tz: self.tz,
            catalog: self.catalog_limits,
            explicit: self.explicit_limits,
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
    /// This provider's route for this model (created ad hoc when not configured).
    Route(&'static str, String),
    /// Any route whose model id is this.
    Model(String),
}
