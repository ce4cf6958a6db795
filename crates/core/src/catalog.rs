//! Model catalogs: which free models a provider offers, in preferred order, with their limits.
//!
//! Free tiers change often, so each provider crate ships its catalog as TOML data embedded
//! in the crate, and users can override or extend it from config without a rebuild.
//!
//! ```toml
//! day_reset_tz = "America/Los_Angeles"   # IANA zone whose midnight ends the daily window
//! day_window = "calendar"                # or "rolling": the upstream counts the last 24 h
//!
//! [shared]              # optional: limits of one key across ALL its models together
//! rpd = 1000
//!
//! [[models]]
//! id = "gemini-3.1-flash-lite"
//! rpm = 15
//! rpd = 500
//! tpm = 250000
//! context_window = 1048576
//! prefill = true
//!
//! [[models]]
//! id = "gemini-3.5-flash"
//! bucket = "gemini-3-flash"             # models naming one bucket share its windows
//! rpm = 5
//! rpd = 20
//! ```
//!
//! Three levels of limits, all per key (each key is its own quota):
//! - a model's own limits (`rpm`, `rpd`, `tpm`, `tpd`, `rpmonth` on `[[models]]`) apply to
//!   that model alone, so three models of 1,000 requests a day are 3,000;
//! - models naming the same `bucket` share one set of those windows: the upstream counts
//!   them together (Gemini's `gemini-3.5-flash` and `gemini-3-flash-preview`), so they
//!   must declare the same limits;
//! - `[shared]` limits apply to all models of the key together, on top of their own
//!   (OpenRouter's 50 free requests a day per account; Cohere's 1,000 trial calls a
//!   month). A request must fit both its model's windows and the shared ones.
//!
//! Two pacing limits sit beside the windows, at either level: `rps` (requests per
//! second, a rolling second the ledger counts like the minute windows) and
//! `max_in_flight` (requests in flight at once, counted in the gateway process). On a
//! model they apply to that model of one key (its bucket, if it names one); in `[shared]`
//! to the whole key. Mistral's free tier allows one request a second per key
//! (`[shared] rps = 1`); Z.ai about one in flight per key (`[shared] max_in_flight = 1`,
//! the stricter of its reference's two readings, per key or per key and model); Ollama
//! Cloud one in flight per account (`[shared] max_in_flight = 1`). A route at either limit is skipped without an upstream call.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::types::{Missing, Needs, flag};

/// Limits of one route. `None` means "no limit known" (not "zero").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Requests per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpd: Option<u64>,
    /// Tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Tokens per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpd: Option<u64>,
    /// Requests per calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpmonth: Option<u64>,
    /// Requests per second: a rolling second, counted by the ledger like the minute
    /// windows (atomically in the store, so gateways sharing it never pass it together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps: Option<u64>,
    /// Requests in flight at once: held from before the upstream call until the attempt
    /// ends (its stream included). Counted in each gateway process, not in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
}

impl Limits {
    /// True when no limit is known.
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// `other`'s known values win; unknown ones keep `self`'s.
    #[must_use]
    pub fn overridden_by(self, other: &Limits) -> Limits {
        Limits {
            rpm: other.rpm.or(self.rpm),
            rpd: other.rpd.or(self.rpd),
            tpm: other.tpm.or(self.tpm),
            tpd: other.tpd.or(self.tpd),
            rpmonth: other.rpmonth.or(self.rpmonth),
            rps: other.rps.or(self.rps),
            max_in_flight: other.max_in_flight.or(self.max_in_flight),
        }
    }

    /// True when a window the ledger counts in the store has a limit (all but
    /// `max_in_flight`, which is counted in process).
    pub(crate) fn has_windows(&self) -> bool {
        Limits {
            max_in_flight: None,
            ..*self
        } != Limits::default()
    }
}

/// One model of a provider's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "one flag per capability, spelled in catalog.toml exactly as here"
)]
pub struct ModelInfo {
    /// Upstream model id, exactly as sent on the wire.
    pub id: String,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Requests per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpd: Option<u64>,
    /// Tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Tokens per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpd: Option<u64>,
    /// Requests per calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpmonth: Option<u64>,
    /// Requests per second (see [`Limits::rps`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps: Option<u64>,
    /// Requests in flight at once for this model of one key (see
    /// [`Limits::max_in_flight`]); for a model naming a `bucket`, for the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
    /// Context window in tokens, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// Whether the route continues an assistant prefill (a trailing assistant message).
    #[serde(default)]
    pub prefill: bool,
    /// Most tokens one answer may have, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// The model calls tools. Unstated means no: a catalog says yes only where it is known.
    #[serde(default)]
    pub tools: bool,
    /// The model answers in JSON matching a schema (`response_format: json_schema`).
    #[serde(default)]
    pub json_schema: bool,
    /// The model answers with a JSON object (`response_format: json_object`).
    #[serde(default)]
    pub json_object: bool,
    /// The model reads images.
    #[serde(default)]
    pub vision: bool,
    /// The model takes a reasoning effort and returns its reasoning apart.
    #[serde(default)]
    pub reasoning: bool,
    /// Quota bucket: models naming the same bucket share their model-level windows (one
    /// counter per window for all of them), and must declare the same limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Free text: where the figures come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ModelInfo {
    /// A model with no limits known.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            rpm: None,
            rpd: None,
            tpm: None,
            tpd: None,
            rpmonth: None,
            rps: None,
            max_in_flight: None,
            context_window: None,
            prefill: false,
            max_output_tokens: None,
            tools: false,
            json_schema: false,
            json_object: false,
            vision: false,
            reasoning: false,
            bucket: None,
            note: None,
        }
    }

    /// Whether this model can serve a request with `needs`; else the first capability it
    /// lacks (in the order tools, JSON schema, JSON object, images, reasoning, context
    /// window, output cap). Unknown windows and caps never refuse.
    pub fn can_serve(&self, needs: &Needs) -> Result<(), Missing> {
        let flags = [
            (needs.tools, self.tools, Missing::Tools),
            (needs.json_schema, self.json_schema, Missing::JsonSchema),
            (needs.json_object, self.json_object, Missing::JsonObject),
            (needs.vision, self.vision, Missing::Vision),
            (needs.reasoning, self.reasoning, Missing::Reasoning),
        ];
        if let Some((_, _, missing)) = flags.into_iter().find(|(need, has, _)| *need && !*has) {
            return Err(missing);
        }
        if let Some(window) = self.context_window
            && needs.prompt_tokens > window
        {
            return Err(Missing::ContextWindow {
                needed: needs.prompt_tokens,
                window,
            });
        }
        if let (Some(requested), Some(max)) = (needs.max_output_tokens, self.max_output_tokens)
            && u64::from(requested) > max
        {
            return Err(Missing::MaxOutputTokens {
                requested,
                max: u32::try_from(max).unwrap_or(u32::MAX),
            });
        }
        Ok(())
    }

    /// The yes/no capabilities the model has, as capability bits.
    pub(crate) fn flags(&self) -> u8 {
        let mut bits = 0;
        for (has, bit) in [
            (self.tools, flag::TOOLS),
            (self.json_schema, flag::JSON_SCHEMA),
            (self.json_object, flag::JSON_OBJECT),
            (self.vision, flag::VISION),
            (self.reasoning, flag::REASONING),
        ] {
            if has {
                bits |= bit;
            }
        }
        bits
    }

    /// The model's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            rpm: self.rpm,
            rpd: self.rpd,
            tpm: self.tpm,
            tpd: self.tpd,
            rpmonth: self.rpmonth,
            rps: self.rps,
            max_in_flight: self.max_in_flight,
        }
    }

    /// Replace the limits, keeping id and flags.
    pub fn set_limits(&mut self, limits: Limits) {
        self.rpm = limits.rpm;
        self.rpd = limits.rpd;
        self.tpm = limits.tpm;
        self.tpd = limits.tpd;
        self.rpmonth = limits.rpmonth;
        self.rps = limits.rps;
        self.max_in_flight = limits.max_in_flight;
    }
}

/// A provider's free models in preferred order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCatalog {
    /// IANA time zone whose midnight ends the provider's daily window (`UTC` when unsure).
    #[serde(default = "utc_name")]
    pub day_reset_tz: String,
    /// Whether the provider's daily limits count a calendar day (ending at midnight of
    /// `day_reset_tz`) or the last 24 hours (`rolling`: counted locally in hour
    /// sub-buckets, never less than any 24 hours hold).
    #[serde(default, skip_serializing_if = "DayWindow::is_calendar")]
    pub day_window: DayWindow,
    /// Limits of one key across all its models together (`[shared]`), on top of each
    /// model's own.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub shared: Limits,
    /// Models, best first.
    pub models: Vec<ModelInfo>,
}

/// Why `max_in_flight = 0` is refused: no request could ever be sent.
pub(crate) const IN_FLIGHT_ZERO: &str =
    "max_in_flight must be at least 1 (disable a provider with `enabled = false`)";

fn utc_name() -> String {
    "UTC".to_owned()
}

/// How a provider's daily window runs (`day_window` in a catalog).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DayWindow {
    /// From midnight to midnight of the catalog's `day_reset_tz`.
    #[default]
    Calendar,
    /// The last 24 hours, replenishing continuously.
    Rolling,
}

impl DayWindow {
    #[expect(
        clippy::trivially_copy_pass_by_ref,
        reason = "serde's skip_serializing_if passes a reference"
    )]
    fn is_calendar(&self) -> bool {
        *self == Self::Calendar
    }
}

impl ModelCatalog {
    /// Parse a catalog; `origin` names the file for error messages.
    pub fn parse(origin: &str, text: &str) -> Result<Self, ConfigError> {
        let catalog: ModelCatalog = toml::from_str(text)
            .map_err(|e| ConfigError::new(origin, "catalog", e.message().to_owned()))?;
        catalog.validate(origin)?;
        Ok(catalog)
    }

    /// Check names are unique, the zone exists, and the models of a bucket agree on their
    /// limits.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        self.day_reset_zone(origin)?;
        let mut seen = std::collections::HashSet::new();
        for m in &self.models {
            if m.id.trim().is_empty() {
                return Err(ConfigError::new(origin, "models.id", "model id is empty"));
            }
            if !seen.insert(m.id.as_str()) {
                return Err(ConfigError::new(
                    origin,
                    "models.id",
                    format!("model `{}` is listed twice", m.id),
                ));
            }
            if m.bucket.as_deref().is_some_and(|b| b.trim().is_empty()) {
                return Err(ConfigError::new(
                    origin,
                    "models.bucket",
                    format!("model `{}` names an empty bucket", m.id),
                ));
            }
        }
        if self.shared.max_in_flight == Some(0) {
            return Err(ConfigError::new(
                origin,
                "shared.max_in_flight",
                IN_FLIGHT_ZERO.to_owned(),
            ));
        }
        if let Some(m) = self.models.iter().find(|m| m.max_in_flight == Some(0)) {
            return Err(ConfigError::new(
                origin,
                "models.max_in_flight",
                format!("model `{}`: {IN_FLIGHT_ZERO}", m.id),
            ));
        }
        check_buckets(self.models.iter().map(|m| (m, m.limits())))
            .map_err(|reason| ConfigError::new(origin, "models.bucket", reason))
    }

    /// The parsed reset zone.
    pub fn day_reset_zone(&self, origin: &str) -> Result<Tz, ConfigError> {
        self.day_reset_tz.parse::<Tz>().map_err(|_| {
            ConfigError::new(
                origin,
                "day_reset_tz",
                format!("`{}` is not an IANA time zone name", self.day_reset_tz),
            )
        })
    }

    /// The model with this id.
    pub fn model(&self, id: &str) -> Option<&ModelInfo> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Reorder/restrict to `ids` (in that order). Unknown ids become catalog entries
    /// without known limits, so a user can add a model the catalog does not list yet.
    #[must_use]
    pub fn select(&self, ids: &[String]) -> ModelCatalog {
        let models = ids
            .iter()
            .map(|id| {
                self.model(id)
                    .cloned()
                    .unwrap_or_else(|| ModelInfo::new(id.clone()))
            })
            .collect();
        ModelCatalog {
            day_reset_tz: self.day_reset_tz.clone(),
            day_window: self.day_window,
            shared: self.shared,
            models,
        }
    }
}

/// Checks that the models of each bucket have the same limits; the reason names two
/// models that differ.
pub(crate) fn check_buckets<'a>(
    models: impl Iterator<Item = (&'a ModelInfo, Limits)>,
) -> Result<(), String> {
    let mut first: std::collections::HashMap<&str, (&str, Limits)> =
        std::collections::HashMap::new();
    for (m, limits) in models {
        let Some(bucket) = m.bucket.as_deref() else {
            continue;
        };
        match first.get(bucket) {
            None => {
                first.insert(bucket, (m.id.as_str(), limits));
            }
            Some((other, theirs)) if *theirs != limits => {
                return Err(format!(
                    "models `{other}` and `{}` share the bucket `{bucket}` but declare \
                     different limits ({} vs {}); a bucket has one set of limits",
                    m.id,
                    describe(theirs),
                    describe(&limits),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `rpm=5, rpd=20`, or `none` when no limit is known.
fn describe(limits: &Limits) -> String {
    let parts: Vec<String> = [
        ("rpm", limits.rpm),
        ("rpd", limits.rpd),
        ("tpm", limits.tpm),
        ("tpd", limits.tpd),
        ("rpmonth", limits.rpmonth),
        ("rps", limits.rps),
        ("max_in_flight", limits.max_in_flight),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.map(|v| format!("{name}={v}")))
    .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// What a route's model can do, as `/v1/models` and the status report show it: the
/// catalog's facts with the settings' `model_capabilities` over them. `None` is unknown: a
/// model that no catalog describes (one the `models` setting or a client names that the
/// catalog does not list, any model of a `kind = "openai"` provider) has unknown yes/no
/// capabilities unless an override states them, and the router never skips a route for
/// a capability it does not know (the upstream decides).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Tool calling.
    pub tools: Option<bool>,
    /// JSON-schema answers.
    pub json_schema: Option<bool>,
    /// JSON-object answers.
    pub json_object: Option<bool>,
    /// Image input.
    pub vision: Option<bool>,
    /// Reasoning control.
    pub reasoning: Option<bool>,
    /// Context window in tokens.
    pub context_window: Option<u64>,
    /// Most tokens one answer may have.
    pub max_output_tokens: Option<u64>,
}

impl Capabilities {
    /// From capability bits: `has` what the model can do, `known` what is known of it.
    pub(crate) fn from_bits(
        has: u8,
        known: u8,
        context_window: Option<u64>,
        max_output_tokens: Option<u64>,
    ) -> Self {
        let get = |bit: u8| (known & bit != 0).then_some(has & bit != 0);
        Self {
            tools: get(flag::TOOLS),
            json_schema: get(flag::JSON_SCHEMA),
            json_object: get(flag::JSON_OBJECT),
            vision: get(flag::VISION),
            reasoning: get(flag::REASONING),
            context_window,
            max_output_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
day_reset_tz = "America/Los_Angeles"
[[models]]
id = "a"
rpm = 5
rpd = 20
prefill = true
[[models]]
id = "b"
"#;

    #[test]
    fn parses_and_selects() {
        let c = ModelCatalog::parse("test.toml", SAMPLE).unwrap();
        assert_eq!(c.models.len(), 2);
        assert_eq!(c.models[0].limits().rpd, Some(20));
        assert!(c.models[0].prefill);
        let s = c.select(&["b".into(), "new".into()]);
        assert_eq!(s.models[0].id, "b");
        assert_eq!(s.models[1], ModelInfo::new("new"));
    }

    #[test]
    fn rejects_unknown_keys_and_zones() {
        let err = ModelCatalog::parse("x.toml", "[[models]]\nid = \"a\"\nrpx = 1\n").unwrap_err();
        assert_eq!(err.location, "x.toml");
        assert!(err.reason.contains("rpx"), "{err}");
        let err = ModelCatalog::parse("x.toml", "day_reset_tz = \"Mars/Base\"\nmodels = []\n")
            .unwrap_err();
        assert_eq!(err.key, "day_reset_tz");
        let err = ModelCatalog::parse("x.toml", "[[models]]\nid = \"a\"\n[[models]]\nid = \"a\"\n")
            .unwrap_err();
        assert!(err.reason.contains("twice"));
    }

    const SHARED: &str = r#"
[shared]
rpm = 20
rpd = 50
[[models]]
id = "a"
bucket = "ab"
rpm = 5
rpd = 20
[[models]]
id = "b"
bucket = "ab"
rpm = 5
rpd = 20
[[models]]
id = "c"
"#;

    #[test]
    fn day_window_is_calendar_unless_rolling_and_survives_select() {
        let c = ModelCatalog::parse("x.toml", "[[models]]\nid = \"a\"\n").unwrap();
        assert_eq!(c.day_window, DayWindow::Calendar);
        let c = ModelCatalog::parse(
            "x.toml",
            "day_window = \"rolling\"\n[[models]]\nid = \"a\"\n",
        )
        .unwrap();
        assert_eq!(c.day_window, DayWindow::Rolling);
        assert_eq!(c.select(&["a".into()]).day_window, DayWindow::Rolling);
        let err =
            ModelCatalog::parse("x.toml", "day_window = \"weekly\"\nmodels = []\n").unwrap_err();
        assert!(err.reason.contains("weekly"), "{err}");
    }

    #[test]
    fn parses_shared_limits_and_buckets() {
        let c = ModelCatalog::parse("x.toml", SHARED).unwrap();
        assert_eq!(
            c.shared,
            Limits {
                rpm: Some(20),
                rpd: Some(50),
                ..Limits::default()
            }
        );
        assert_eq!(c.models[0].bucket.as_deref(), Some("ab"));
        assert_eq!(c.models[2].bucket, None);
        // A selection keeps the shared limits and the buckets.
        let s = c.select(&["b".into(), "c".into()]);
        assert_eq!(s.shared, c.shared);
        assert_eq!(s.models[0].bucket.as_deref(), Some("ab"));
        // No `[shared]` table: nothing shared.
        let plain = ModelCatalog::parse("x.toml", SAMPLE).unwrap();
        assert!(plain.shared.is_empty());
    }

    #[test]
    fn rejects_bad_shared_tables_and_buckets() {
        let err = ModelCatalog::parse("x.toml", "models = []\n[shared]\nrpx = 1\n").unwrap_err();
        assert!(err.reason.contains("rpx"), "{err}");
        let err =
            ModelCatalog::parse("x.toml", "[[models]]\nid = \"a\"\nbucket = \" \"\n").unwrap_err();
        assert_eq!(err.key, "models.bucket");
        let differing = SHARED.replace(
            "id = \"b\"\nbucket = \"ab\"\nrpm = 5\nrpd = 20",
            "id = \"b\"\nbucket = \"ab\"\nrpm = 5\nrpd = 25",
        );
        let err = ModelCatalog::parse("x.toml", &differing).unwrap_err();
        assert_eq!(
            (err.location.as_str(), err.key.as_str()),
            ("x.toml", "models.bucket")
        );
        assert!(
            err.reason.contains("`a`") && err.reason.contains("`b`") && err.reason.contains("`ab`"),
            "{err}"
        );
        assert!(
            err.reason.contains("rpd=20") && err.reason.contains("rpd=25"),
            "{err}"
        );
        // A bucket member without limits differs from one with limits.
        let missing = SHARED.replacen("rpm = 5\nrpd = 20\n", "", 1);
        assert!(ModelCatalog::parse("x.toml", &missing).is_err());
    }

    #[test]
    fn pacing_limits_parse_and_zero_in_flight_is_refused() {
        let c = ModelCatalog::parse(
            "x.toml",
            "[shared]\nrps = 1\n[[models]]\nid = \"a\"\nmax_in_flight = 1\n",
        )
        .unwrap();
        assert_eq!(c.shared.rps, Some(1));
        assert_eq!(c.models[0].limits().max_in_flight, Some(1));
        // `rps` is a window the ledger counts in the store; `max_in_flight` alone is none,
        // so the key's shared counters stay off for it.
        assert!(c.shared.has_windows());
        let in_flight_only = Limits {
            max_in_flight: Some(1),
            ..Limits::default()
        };
        assert!(!in_flight_only.is_empty() && !in_flight_only.has_windows());
        let err = ModelCatalog::parse("x.toml", "[[models]]\nid = \"a\"\nmax_in_flight = 0\n")
            .unwrap_err();
        assert_eq!(err.key, "models.max_in_flight");
        assert!(
            err.reason.contains("`a`") && err.reason.contains("at least 1"),
            "{err}"
        );
        let err = ModelCatalog::parse("x.toml", "models = []\n[shared]\nmax_in_flight = 0\n")
            .unwrap_err();
        assert_eq!(err.key, "shared.max_in_flight");
        // A bucket's models must agree on pacing limits too.
        let differing = "[[models]]\nid = \"a\"\nbucket = \"ab\"\nmax_in_flight = 1\n\
                         [[models]]\nid = \"b\"\nbucket = \"ab\"\nmax_in_flight = 2\n";
        let err = ModelCatalog::parse("x.toml", differing).unwrap_err();
        assert!(err.reason.contains("max_in_flight=1"), "{err}");
    }

    #[test]
    fn overrides_keep_unknowns() {
        let base = Limits {
            rpm: Some(30),
            rpd: Some(1000),
            ..Limits::default()
        };
        let over = Limits {
            rpd: Some(50),
            ..Limits::default()
        };
        let merged = base.overridden_by(&over);
        assert_eq!(merged.rpm, Some(30));
        assert_eq!(merged.rpd, Some(50));
    }

    #[test]
    fn can_serve_names_the_first_missing_capability() {
        use crate::types::{ChatRequest, Tool};
        let mut model = ModelInfo::new("m");
        model.context_window = Some(100);
        model.json_object = true;
        let plain = ChatRequest::from_user("hi").needs();
        assert_eq!(model.can_serve(&plain), Ok(()));
        let tools = ChatRequest::from_user("hi")
            .with_tool(Tool::function("f", "f", serde_json::json!({})))
            .needs();
        assert_eq!(model.can_serve(&tools), Err(Missing::Tools));
        model.tools = true;
        assert_eq!(model.can_serve(&tools), Ok(()));
        let long = ChatRequest::from_user("word ".repeat(200)).needs();
        assert!(matches!(
            model.can_serve(&long),
            Err(Missing::ContextWindow { window: 100, .. })
        ));
        let mut capped = ChatRequest::from_user("hi");
        capped.max_tokens = Some(9000);
        model.max_output_tokens = Some(8000);
        assert!(matches!(
            model.can_serve(&capped.needs()),
            Err(Missing::MaxOutputTokens {
                requested: 9000,
                max: 8000
            })
        ));
    }

    #[test]
    fn capabilities_default_to_no() {
        let m: ModelInfo = toml::from_str("id = \"m\"").unwrap();
        assert!(!m.tools && !m.vision && !m.json_schema && !m.json_object && !m.reasoning);
        let m: ModelInfo =
            toml::from_str("id = \"m\"\ntools = true\nmax_output_tokens = 8000").unwrap();
        assert!(m.tools);
        assert_eq!(m.max_output_tokens, Some(8000));
    }

    #[test]
    fn capabilities_from_bits_keep_unknowns() {
        let mut m = ModelInfo::new("m");
        m.tools = true;
        m.vision = true;
        let caps =
            Capabilities::from_bits(m.flags(), flag::TOOLS | flag::JSON_SCHEMA, Some(9), None);
        assert_eq!(caps.tools, Some(true));
        assert_eq!(caps.json_schema, Some(false));
        // Vision is set but not known: unknown wins.
        assert_eq!(caps.vision, None);
        assert_eq!(caps.context_window, Some(9));
        let json = serde_json::to_value(caps).unwrap();
        assert_eq!(json["reasoning"], serde_json::Value::Null);
        assert_eq!(json["tools"], true);
    }
}
