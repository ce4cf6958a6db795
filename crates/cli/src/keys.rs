//! `llmpool keys check`: every configured key, asked at no quota cost whether it is
//! accepted and which of the configured models it may use.

use std::fmt::Write as _;

use anyhow::bail;
use llmpool::Config;
use llmpool::{ErrorKind, ProviderError};

/// The verdict on one key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accepted; the configured models it lists and those it does not.
    Valid {
        usable: Vec<String>,
        missing: Vec<String>,
    },
    /// Refused by the provider (the key is wrong, revoked or needs billing).
    Rejected(String),
    /// The provider could not be asked (network, 5xx, rate limit): nothing is known.
    Unknown(String),
    /// The provider has no free way to check a key.
    NotCheckable,
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) provider: &'static str,
    pub(crate) key: String,
    pub(crate) verdict: Verdict,
}

/// The verdict for a key from its `list_models` answer and the models configured for it.
pub(crate) fn verdict(
    answer: Result<Option<Vec<String>>, ProviderError>,
    configured: &[String],
) -> Verdict {
    match answer {
        Ok(None) => Verdict::NotCheckable,
        Ok(Some(listed)) => {
            let (usable, missing) = configured
                .iter()
                .cloned()
                .partition(|m| listed.iter().any(|l| l == m));
            Verdict::Valid { usable, missing }
        }
        Err(e) => match e.kind {
            ErrorKind::Unauthorized | ErrorKind::PaymentRequired => Verdict::Rejected(e.summary()),
            ErrorKind::RateLimited { .. }
            | ErrorKind::QuotaExhausted { .. }
            | ErrorKind::BadRequest
            | ErrorKind::ModelNotFound
            | ErrorKind::ContextTooLong
            | ErrorKind::ContentFiltered
            | ErrorKind::Transient { .. }
            | ErrorKind::Timeout
            | ErrorKind::Network(_)
            | ErrorKind::InvalidResponse => Verdict::Unknown(e.summary()),
        },
    }
}

/// The table, one line per key.
pub(crate) fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let (state, detail) = match &r.verdict {
                Verdict::Valid { usable, missing } => {
                    let mut d = format!("may use: {}", list_or_none(usable));
                    if !missing.is_empty() {
                        let _ = write!(d, "; not listed for this key: {}", missing.join(", "));
                    }
                    ("valid", d)
                }
                Verdict::Rejected(why) => ("rejected", why.clone()),
                Verdict::Unknown(why) => ("unknown", format!("could not ask: {why}")),
                Verdict::NotCheckable => (
                    "not checked",
                    "this provider has no free way to check a key".to_owned(),
                ),
            };
            [
                r.provider.to_owned(),
                r.key.clone(),
                state.to_owned(),
                detail,
            ]
        })
        .collect();
    let header = ["provider", "key", "result", "models"].map(str::to_owned);
    let widths: Vec<usize> = (0..3)
        .map(|c| {
            std::iter::once(&header)
                .chain(&cells)
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&cells) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    out
}

fn list_or_none(models: &[String]) -> String {
    if models.is_empty() {
        "none of the configured models".to_owned()
    } else {
        models.join(", ")
    }
}

/// Asks every key, prints the table, and fails (exit 1) when a key was rejected.
pub(crate) async fn check(config: &Config) -> anyhow::Result<()> {
    let registry = llmpool::registry()?;
    let setups = config.provider_setups(&registry)?;
    let mut checks = Vec::new();
    let mut without_key = Vec::new();
    for setup in &setups {
        if setup.clients.is_empty() {
            without_key.push(setup.factory.key_env);
            continue;
        }
        let configured = configured_models(config, setup.factory)?;
        for client in &setup.clients {
            let configured = configured.clone();
            let provider = client.provider.clone();
            let key = client.key_label.clone();
            let id = setup.factory.id;
            checks.push(async move {
                let answer = provider.list_models().await;
                Row {
                    provider: id,
                    key,
                    verdict: verdict(answer, &configured),
                }
            });
        }
    }
    if checks.is_empty() {
        bail!(
            "no API key is configured; set one of {} (llmpool init writes a .env template)",
            without_key.join(", ")
        );
    }
    // Side by side: each check is one small GET, and their latencies need not add up.
    let rows = futures::future::join_all(checks).await;
    print!("{}", table(&rows));
    if !without_key.is_empty() {
        println!("no key: {}", without_key.join(", "));
    }
    let rejected = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Rejected(_)))
        .count();
    if rejected > 0 {
        return Err(KeysRejected(rejected).into());
    }
    Ok(())
}

/// One or more keys were rejected: exit code 1.
#[derive(Debug)]
pub(crate) struct KeysRejected(pub(crate) usize);

impl std::fmt::Display for KeysRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} key(s) rejected by their provider", self.0)
    }
}

impl std::error::Error for KeysRejected {}

/// The models configured for a provider: its settings' list, else its catalog's.
fn configured_models(
    config: &Config,
    factory: &llmpool::ProviderFactory,
) -> anyhow::Result<Vec<String>> {
    if let Some(models) = config
        .settings
        .providers
        .get(factory.id)
        .and_then(|p| p.models.clone())
    {
        return Ok(models);
    }
    Ok(factory
        .model_catalog()?
        .models
        .into_iter()
        .map(|m| m.id)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn verdicts_by_answer() {
        let configured = models(&["a", "b"]);
        assert_eq!(
            verdict(Ok(Some(models(&["b", "c"]))), &configured),
            Verdict::Valid {
                usable: models(&["b"]),
                missing: models(&["a"]),
            }
        );
        assert_eq!(verdict(Ok(None), &configured), Verdict::NotCheckable);
        let rejected = ProviderError::new("groq", ErrorKind::Unauthorized).with_status(401);
        assert_eq!(
            verdict(Err(rejected), &configured),
            Verdict::Rejected("unauthorized (401)".to_owned())
        );
        let down = ProviderError::new("groq", ErrorKind::Timeout);
        assert_eq!(
            verdict(Err(down), &configured),
            Verdict::Unknown("timeout".to_owned())
        );
    }

    #[test]
    fn table_aligns_columns() {
        let rows = [
            Row {
                provider: "groq",
                key: "***aaaa".to_owned(),
                verdict: Verdict::Valid {
                    usable: models(&["m1"]),
                    missing: Vec::new(),
                },
            },
            Row {
                provider: "openrouter",
                key: "***".to_owned(),
                verdict: Verdict::NotCheckable,
            },
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("groq        ***aaaa  valid"), "{text}");
        assert!(
            lines[2].contains("not checked  this provider has no free way"),
            "{text}"
        );
    }
}
