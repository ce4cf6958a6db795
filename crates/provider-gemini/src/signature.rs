//! Tool-call ids that carry Gemini's own call id and thought signature through the
//! client, so the gateway keeps no conversation state (capabilities.md §6.5, option 1).
//!
//! Gemini 3 signs the first function call of a turn (`thoughtSignature`) and answers 400
//! when the next request replays that call without its signature. OpenAI clients keep
//! nothing but the call's `id`, which they send back unchanged in the next turn's
//! assistant `tool_calls[].id` and in the tool result's `tool_call_id`. So:
//!
//! - a call **with a signature** gets the id `call_g1` + base64url(JSON `{"g": <Gemini
//!   id, if any>, "s": <signature>, "n": <nonce, when there is no Gemini id>}`); such
//!   ids are long (signatures run from 70 to 1,500+ characters);
//! - a call **without a signature** but with a Gemini id (the second and later calls of
//!   a parallel set on Gemini 3) keeps Gemini's id as it is;
//! - a call with **neither** (Gemini 2.5) gets `call_` + a nonce unique to the answer
//!   (its `responseId` and the call's index), which Gemini accepts back as a
//!   client-made id.
//!
//! On the way back, an id that decodes as ours gives back the Gemini id (or none) and
//! the signature; any other id (one Gemini gave, or one from another provider after a
//! failover) is sent to Gemini as the call's id, without a signature. When the first
//! call of a model turn has no signature, the request builder puts Google's documented
//! placeholder [`SKIP_SIGNATURE`] there for Gemini 3 models.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// What every id carrying a signature starts with (version 1 of the encoding).
const PREFIX: &str = "call_g1";

/// Google's documented value for a replayed function call whose signature was lost:
/// Gemini 3 then skips the signature check (with some loss of quality).
pub(crate) const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// The facts an id carries, in short keys.
#[derive(Debug, Serialize, Deserialize)]
struct Carried {
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    gemini_id: Option<String>,
    #[serde(rename = "s")]
    signature: String,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
}

/// The OpenAI id of a call Gemini made: its own `id` and `thoughtSignature` as
/// described in the module docs. `nonce` (unique within the conversation) is only
/// used when Gemini gave no id.
pub(crate) fn call_id(
    gemini_id: Option<&str>,
    signature: Option<&str>,
    nonce: impl FnOnce() -> String,
) -> String {
    match (gemini_id, signature) {
        (gemini_id, Some(signature)) => {
            let carried = Carried {
                gemini_id: gemini_id.map(str::to_owned),
                signature: signature.to_owned(),
                nonce: gemini_id.is_none().then(nonce),
            };
            // Serialising a struct of strings cannot fail; an empty payload would only
            // make the id foreign (no signature), never wrong.
            let json = serde_json::to_vec(&carried).unwrap_or_default();
            format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
        }
        (Some(id), None) => id.to_owned(),
        (None, None) => format!("call_{}", nonce()),
    }
}

/// What a client's call id means for the next request to Gemini.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replay {
    /// `functionCall.id` and `functionResponse.id`; `None` leaves both out.
    pub(crate) id: Option<String>,
    /// The call's `thoughtSignature`, when the id carried one.
    pub(crate) signature: Option<String>,
}

/// Decodes an OpenAI call id made by [`call_id`]; any other id is used as it is.
pub(crate) fn replay(id: &str) -> Replay {
    let carried = id
        .strip_prefix(PREFIX)
        .and_then(|rest| URL_SAFE_NO_PAD.decode(rest).ok())
        .and_then(|bytes| serde_json::from_slice::<Carried>(&bytes).ok());
    match carried {
        Some(c) => Replay {
            id: c.gemini_id,
            signature: Some(c.signature),
        },
        None => Replay {
            id: Some(id.to_owned()),
            signature: None,
        },
    }
}

/// A nonce for the `index`-th call of the answer `response_id` (unique per answer);
/// random when Gemini sent no `responseId`.
pub(crate) fn nonce(response_id: Option<&str>, index: u32) -> String {
    match response_id {
        Some(id) if !id.is_empty() => format!("{id}_{index}"),
        _ => format!("{:016x}_{index}", rand::random::<u64>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_calls_round_trip_through_the_id() {
        let id = call_id(Some("PPik6Btt"), Some("EjQK+/0="), || unreachable!());
        assert!(id.starts_with("call_g1"), "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{id}"
        );
        assert_eq!(
            replay(&id),
            Replay {
                id: Some("PPik6Btt".into()),
                signature: Some("EjQK+/0=".into())
            }
        );
        // Signed but without a Gemini id: the nonce keeps two such ids apart.
        let a = call_id(None, Some("sig"), || "r_0".into());
        let b = call_id(None, Some("sig"), || "r_1".into());
        assert_ne!(a, b);
        assert_eq!(
            replay(&a),
            Replay {
                id: None,
                signature: Some("sig".into())
            }
        );
    }

    #[test]
    fn unsigned_calls_keep_or_get_a_plain_id() {
        assert_eq!(
            call_id(Some("g1bmv6il"), None, || unreachable!()),
            "g1bmv6il"
        );
        assert_eq!(call_id(None, None, || "resp_2".into()), "call_resp_2");
        assert_eq!(nonce(Some("resp"), 2), "resp_2");
        assert_ne!(nonce(None, 0), nonce(None, 0));
    }

    #[test]
    fn foreign_ids_are_sent_as_they_are() {
        for id in [
            "call_7b205c4c32234f3e91624804",
            "toolu_bdrk_01AMXFNuQYF6fxS1hryPtu9K",
            "call_g1notbase64!",
            "call_g1e30", // base64url of `{}`: no signature, not ours
            "",
        ] {
            assert_eq!(
                replay(id),
                Replay {
                    id: Some(id.to_owned()),
                    signature: None
                },
                "{id}"
            );
        }
    }
}
