//! Splits a leading inline `<think>…</think>` block off a streamed answer, as its pieces
//! arrive (DeepSeek-R1 distills on Cloudflare, Groq's `raw` reasoning format).
//!
//! The rules are those of a one-shot answer (`wire::content::split_leading_think`): only
//! a block that opens the answer (after whitespace) is reasoning; a block never closed is
//! all reasoning; a `<think>` anywhere else is answer text. The tags may be split across
//! chunks, so a piece that could still be the start of a tag is held back until the next
//! piece (or the end) decides: at most a tag's length, plus inside the block the blanks
//! before it (trimmed if the block closes there, as in a one-shot answer).
//!
//! Once the answer proper has started, each piece passes through as it came: no copy,
//! no search.

use crate::wire::content::{THINK_CLOSE, THINK_OPEN};

/// Where a stream is relative to its inline reasoning block.
#[derive(Debug, Default)]
enum State {
    /// Nothing but whitespace (or a prefix of `<think>`) yet: held.
    #[default]
    Start,
    /// Inside the block; `started` once its first non-blank text went out.
    Thinking { started: bool },
    /// Just after `</think>`: the blank lines before the answer are skipped.
    AfterThink,
    /// The answer proper: pieces pass through.
    Answer,
}

/// The splitter of one stream.
#[derive(Debug, Default)]
pub(crate) struct ThinkSplitter {
    state: State,
    /// Text held back until it is known to be a tag or not.
    held: String,
}

/// What one piece of streamed content turns into: reasoning first, then answer text.
pub(crate) type Split = (Option<String>, Option<String>);

impl ThinkSplitter {
    /// The reasoning and answer text in the next piece of `content`.
    pub(crate) fn push(&mut self, text: String) -> Split {
        match self.state {
            State::Answer => (None, Some(text)),
            State::Start => {
                self.held.push_str(&text);
                let lead = self.held.trim_start();
                if let Some(rest) = lead.strip_prefix(THINK_OPEN) {
                    let rest = rest.to_owned();
                    self.held.clear();
                    self.state = State::Thinking { started: false };
                    self.push(rest)
                } else if lead.is_empty() || THINK_OPEN.starts_with(lead) {
                    (None, None)
                } else {
                    self.state = State::Answer;
                    (None, Some(std::mem::take(&mut self.held)))
                }
            }
            State::Thinking { started } => {
                self.held.push_str(&text);
                if !started {
                    let lead = self.held.trim_start();
                    if lead.is_empty() {
                        self.held.clear();
                        return (None, None);
                    }
                    if lead.len() != self.held.len() {
                        self.held = lead.to_owned();
                    }
                    self.state = State::Thinking { started: true };
                }
                if let Some(at) = self.held.find(THINK_CLOSE) {
                    let after = self.held.split_off(at + THINK_CLOSE.len());
                    self.held.truncate(at);
                    let thought = std::mem::take(&mut self.held);
                    let thought = thought.trim_end();
                    self.state = State::AfterThink;
                    let (_, answer) = self.push(after);
                    ((!thought.is_empty()).then(|| thought.to_owned()), answer)
                } else {
                    // Trailing blanks wait too: if `</think>` follows, they are trimmed
                    // as in a one-shot answer; otherwise they go out with the next text.
                    let tag = partial_tag_len(&self.held, THINK_CLOSE);
                    let cut = self.held[..self.held.len() - tag].trim_end().len();
                    let held = self.held.split_off(cut);
                    let thought = std::mem::replace(&mut self.held, held);
                    ((!thought.is_empty()).then_some(thought), None)
                }
            }
            State::AfterThink => {
                let lead = text.trim_start();
                if lead.is_empty() {
                    return (None, None);
                }
                self.state = State::Answer;
                let answer = if lead.len() == text.len() {
                    text
                } else {
                    lead.to_owned()
                };
                (None, Some(answer))
            }
        }
    }

    /// What is still held when the stream ends: a would-be `<think>` that never completed
    /// is answer text; a would-be `</think>` inside the block is reasoning.
    pub(crate) fn finish(&mut self) -> Split {
        let held = std::mem::take(&mut self.held);
        let state = std::mem::replace(&mut self.state, State::Answer);
        if held.is_empty() {
            return (None, None);
        }
        match state {
            State::Start => (None, Some(held)),
            State::Thinking { .. } => (Some(held), None),
            State::AfterThink | State::Answer => (None, None),
        }
    }
}

/// The length of the longest end of `text` that is a proper start of `tag` (an ASCII tag,
/// so the cut is a character boundary).
fn partial_tag_len(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&n| text.ends_with(&tag[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` and returns (all reasoning, all answer, the answer's pieces).
    fn run(pieces: &[&str]) -> (String, String, Vec<String>) {
        let mut s = ThinkSplitter::default();
        let (mut reasoning, mut answer, mut answer_pieces) =
            (String::new(), String::new(), Vec::new());
        let mut take = |(r, a): Split| {
            if let Some(r) = r {
                assert!(!r.is_empty());
                reasoning.push_str(&r);
            }
            if let Some(a) = a {
                assert!(!a.is_empty());
                answer.push_str(&a);
                answer_pieces.push(a);
            }
        };
        for p in pieces {
            take(s.push((*p).to_owned()));
        }
        take(s.finish());
        (reasoning, answer, answer_pieces)
    }

    #[test]
    fn a_whole_block_in_one_piece() {
        let (r, a, _) = run(&["<think>\nParis.\n</think>\n\nParis."]);
        assert_eq!((r.as_str(), a.as_str()), ("Paris.", "Paris."));
    }

    #[test]
    fn tags_split_across_pieces() {
        let (r, a, _) = run(&[
            "\n",
            "<th",
            "ink>",
            "\nThe user",
            " wants Paris.</",
            "thi",
            "nk",
            ">\n",
            "\n",
            "Par",
            "is.",
        ]);
        assert_eq!(
            (r.as_str(), a.as_str()),
            ("The user wants Paris.", "Paris.")
        );
        // Every split point of the same text gives the same result.
        let text = "<think>a < b </ c</think>\n\nanswer </think> stays";
        for cut in 1..text.len() {
            let (r, a, _) = run(&[&text[..cut], &text[cut..]]);
            assert_eq!(
                (r.as_str(), a.as_str()),
                ("a < b </ c", "answer </think> stays"),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_unclosed_block_is_all_reasoning() {
        let (r, a, _) = run(&["<think>", "still", " going </thi"]);
        assert_eq!((r.as_str(), a.as_str()), ("still going </thi", ""));
        let (r, a, _) = run(&["<think>a\n", "\n", " b\n", "</think>c"]);
        assert_eq!((r.as_str(), a.as_str()), ("a\n\n b", "c"));
    }

    #[test]
    fn a_think_tag_not_at_the_start_is_answer_text() {
        let (r, a, pieces) = run(&["Use ", "<think>", " tags.</think>"]);
        assert_eq!((r.as_str(), a.as_str()), ("", "Use <think> tags.</think>"));
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        let (r, a, _) = run(&["<thinking>", " is not a tag"]);
        assert_eq!((r.as_str(), a.as_str()), ("", "<thinking> is not a tag"));
    }

    #[test]
    fn plain_answers_pass_through_piece_by_piece() {
        let (r, a, pieces) = run(&["Par", "is", "."]);
        assert_eq!((r.as_str(), a.as_str()), ("", "Paris."));
        assert_eq!(pieces, ["Par", "is", "."]);
        let (r, a, _) = run(&["  ", "\n"]);
        assert_eq!((r.as_str(), a.as_str()), ("", "  \n"));
        let (r, a, _) = run(&["<thi"]);
        assert_eq!((r.as_str(), a.as_str()), ("", "<thi"));
    }
}
