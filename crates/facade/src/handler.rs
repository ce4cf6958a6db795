//! `ChatHandler`: the seed's API (`send_message_with_history`, `translate_multiple_texts`,
//! `get_quota_status`) over the router and the state store.

use std::collections::BTreeMap;
use std::sync::Arc;

use llmpool_core::{
    ChatRequest, ChatResponse, Clock, Error, Message, QuotaStatus, Router, Settings, StateStore,
    SystemClock,
};

use crate::config::{Config, ProviderAvailability};
use crate::translate::{self, BatchLimits};

/// Tokens kept free for the answer when history is fitted into a context window.
const ANSWER_RESERVE_TOKENS: u64 = 1_024;

/// Chat with per-user history, batch translation and quota status, routed over every
/// configured provider.
///
/// ```no_run
/// # async fn demo() -> Result<(), llmpool::Error> {
/// let handler = llmpool::ChatHandler::from_env().await?;
/// let answer = handler.send_message_with_history("user-42", "Hello!").await?;
/// let texts = vec!["Good morning".to_owned(), "Thank you".to_owned()];
/// let translated = handler.translate_multiple_texts(&texts, Some("Persian")).await;
/// let status = handler.get_quota_status().await?;
/// println!("{answer}\n{translated:?}\n{}", serde_json::to_string_pretty(&status).unwrap_or_default());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ChatHandler {
    router: Router,
    store: Arc<dyn StateStore>,
    history_turns: usize,
    target_language: String,
    system_prompt: Option<String>,
    batch: BatchLimits,
    /// Why a provider is off, by provider id: the status report's `note`.
    notes: BTreeMap<String, String>,
    /// Every provider, on or off with the reason, as the configuration gave them.
    availability: Vec<ProviderAvailability>,
}

impl ChatHandler {
    /// Reads env, `.env` and `llmpool.toml`, opens the configured store, builds the router.
    pub async fn from_env() -> Result<Self, Error> {
        Self::builder().config(Config::from_env()?).build().await
    }

    /// A builder for code that configures llmpool itself.
    pub fn builder() -> ChatHandlerBuilder {
        ChatHandlerBuilder::default()
    }

    /// The router, for one-off requests and streaming.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Every provider of the router, on or off with the reason (compiled-in ones by id,
    /// then the `kind = "openai"` ones): what the start line and `/v1/models` say.
    pub fn availability(&self) -> &[ProviderAvailability] {
        &self.availability
    }

    /// Sends one routed request (no history).
    pub async fn chat(&self, req: ChatRequest) -> Result<ChatResponse, Error> {
        self.router.chat(req).await
    }

    /// Loads the user's recent history, appends `message`, routes it, stores both turns,
    /// and returns the answer. History is trimmed to `history_turns` exchanges and to what
    /// fits the smallest context window among the routes in play. Nothing is stored when
    /// the request fails.
    pub async fn send_message_with_history(
        &self,
        user_id: &str,
        message: &str,
    ) -> Result<String, Error> {
        if message.trim().is_empty() {
            return Err(Error::InvalidRequest("the message is empty".to_owned()));
        }
        let keep = self.history_turns * 2;
        let history = self.store.history(user_id, keep).await?;
        let user = Message::user(message);
        let messages = self.fit_context(history, &user);
        let response = self.router.chat(ChatRequest::new(messages)).await?;
        let answer = Message::assistant(response.text.clone());
        self.store
            .append_history(user_id, &[user, answer], keep)
            .await?;
        Ok(response.text)
    }

    /// Forgets a user's history.
    pub async fn clear_history(&self, user_id: &str) -> Result<(), Error> {
        Ok(self.store.clear_history(user_id).await?)
    }

    /// A user's stored history, oldest first.
    pub async fn history(&self, user_id: &str) -> Result<Vec<Message>, Error> {
        Ok(self.store.history(user_id, self.history_turns * 2).await?)
    }

    /// Translates `texts` into `target_lang` (default: the configured `target_language`),
    /// in as few upstream requests as fit. The result has the same length and order;
    /// blank texts pass through untouched; a text that cannot be translated comes back
    /// unchanged (the seed's behaviour), with a warning in the log.
    pub async fn translate_multiple_texts(
        &self,
        texts: &[String],
        target_lang: Option<&str>,
    ) -> Vec<String> {
        let target = target_lang.map_or(self.target_language.as_str(), str::trim);
        let mut out = texts.to_vec();
        for batch in translate::plan_batches(texts, self.batch) {
            let items: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            let failure = match self
                .router
                .chat(translate::batch_request(&items, target))
                .await
            {
                Ok(resp) => match translate::parse_batch_answer(&resp.text, items.len()) {
                    Ok(translated) => {
                        for (&i, t) in batch.iter().zip(translated) {
                            out[i] = t;
                        }
                        continue;
                    }
                    Err(reason) => reason,
                },
                Err(Error::NoAvailableProviders(why)) => {
                    tracing::warn!(%why, count = items.len(), "translation skipped: no provider available; returning the originals");
                    continue;
                }
                Err(e) => e.to_string(),
            };
            tracing::warn!(reason = %failure, count = items.len(), "batch translation failed; translating one by one");
            for &i in &batch {
                match self
                    .router
                    .chat(translate::single_request(&texts[i], target))
                    .await
                {
                    Ok(resp) => {
                        if let Some(t) = translate::clean_single(&resp.text) {
                            out[i] = t;
                        } else {
                            tracing::warn!(index = i, "empty translation; keeping the original");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(index = i, error = %e, "translation failed; keeping the original");
                    }
                }
            }
        }
        out
    }

    /// The quota report; its JSON has the seed's shape.
    pub async fn get_quota_status(&self) -> Result<QuotaStatus, Error> {
        let mut status = self.router.quota_status().await?;
        for (id, note) in &self.notes {
            if let Some(p) = status.quota_status.get_mut(id) {
                p.note = Some(note.clone());
            }
        }
        Ok(status)
    }

    /// Builds the message list: system prompt, the newest history that fits, the new turn.
    fn fit_context(&self, history: Vec<Message>, user: &Message) -> Vec<Message> {
        let budget = self
            .router
            .min_context_window()
            .map_or(u64::MAX, |w| w.saturating_sub(ANSWER_RESERVE_TOKENS));
        let system: Vec<Message> = self.system_prompt.iter().map(Message::system).collect();
        let fixed = estimate(&system) + estimate(std::slice::from_ref(user));
        // Drop whole exchanges from the oldest end until the rest fits.
        let mut start = 0;
        while start < history.len() && fixed + estimate(&history[start..]) > budget {
            start += 2.min(history.len() - start);
        }
        let mut messages = system;
        messages.extend(history.into_iter().skip(start));
        messages.push(user.clone());
        messages
    }
}

fn estimate(messages: &[Message]) -> u64 {
    ChatRequest::new(messages.to_vec()).estimated_prompt_tokens()
}

/// Builds a [`ChatHandler`].
#[derive(Debug, Default)]
pub struct ChatHandlerBuilder {
    config: Option<Config>,
    settings: Option<Settings>,
    store: Option<Arc<dyn StateStore>>,
    clock: Option<Arc<dyn Clock>>,
    system_prompt: Option<String>,
    batch: Option<BatchLimits>,
    router: Option<Router>,
}

impl ChatHandlerBuilder {
    /// Use this configuration (default: [`Config::from_env`]).
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Override the settings of the configuration.
    #[must_use]
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Use this store instead of the configured one.
    #[must_use]
    pub fn store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Use this clock (tests pause time with `TokioClock`).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// A system prompt put before every conversation.
    #[must_use]
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    /// How translation batches are sized.
    #[must_use]
    pub fn batch_limits(mut self, limits: BatchLimits) -> Self {
        self.batch = Some(limits);
        self
    }

    /// Use an already built router (its store must be the one given to [`store`](Self::store)).
    #[must_use]
    pub fn router(mut self, router: Router) -> Self {
        self.router = Some(router);
        self
    }

    /// Opens the store, builds the router and loads its persisted state (a store that
    /// cannot be read is an error here).
    pub async fn build(self) -> Result<ChatHandler, Error> {
        let mut config = match self.config {
            Some(c) => c,
            None => Config::from_env()?,
        };
        if let Some(settings) = self.settings {
            config = Config::from_parts(settings, config.origin.clone(), config.vars_clone())?;
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let store = match self.store {
            Some(s) => s,
            None => config.open_store(clock.clone()).await?,
        };
        // Persisted state (health, learned limits) is read here, so a store that cannot
        // be read stops the start rather than the first request.
        let mut availability = config.availability();
        let router = if let Some(r) = self.router {
            r.load().await?;
            r
        } else {
            let registry = crate::registry()?;
            let setups = config.provider_setups_with_clock(&registry, &clock)?;
            Router::build(&config.settings, setups, store.clone(), clock).await?
        };
        // A router given to the builder may know other providers, or hold clients the
        // configuration does not know of: its providers are the ones listed, and one it
        // can route to is on, whatever the configuration says.
        let known = router.provider_ids();
        availability.retain(|a| known.contains(&a.id));
        let with_routes = router.model_ids();
        for a in &mut availability {
            if with_routes.iter().any(|(provider, _)| *provider == a.id) {
                a.off_reason = None;
            }
        }
        let notes = availability
            .iter()
            .filter_map(|a| Some((a.id.to_owned(), a.off_reason.clone()?)))
            .collect();
        Ok(ChatHandler {
            router,
            store,
            history_turns: config.settings.history_turns,
            target_language: config.settings.target_language.clone(),
            system_prompt: self.system_prompt,
            batch: self.batch.unwrap_or_default(),
            notes,
            availability,
        })
    }
}
