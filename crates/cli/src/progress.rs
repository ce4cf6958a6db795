//! The translation progress bar: on a terminal only (indicatif hides a bar whose stderr
//! is not one), so piped output gets nothing extra.

use std::ops::Range;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Texts per request group while a bar is shown: small enough for the bar to move,
/// large enough that the handler still packs several texts into one upstream request.
pub(crate) const GROUP: usize = 25;

/// A bar over `len` texts on stderr; hidden when stderr is not a terminal.
pub(crate) fn bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(len).unwrap_or(u64::MAX)),
        ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} texts translated ({elapsed})")
    {
        bar.set_style(style);
    }
    bar
}

/// The groups in which `len` texts are sent: one group when nothing is shown (the
/// handler then batches all of them as tightly as it can), else groups of [`GROUP`].
pub(crate) fn groups(len: usize, visible: bool) -> Vec<Range<usize>> {
    if len == 0 {
        return Vec::new();
    }
    let step = if visible { GROUP } else { len };
    (0..len)
        .step_by(step)
        .map(|start| start..(start + step).min(len))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_every_text_once_in_order() {
        assert_eq!(groups(0, true), Vec::<Range<usize>>::new());
        assert_eq!(groups(60, false), vec![0..60]);
        assert_eq!(groups(60, true), vec![0..25, 25..50, 50..60]);
        assert_eq!(groups(25, true), vec![0..25]);
    }

    #[test]
    fn the_bar_hides_itself_off_a_terminal() {
        // Test runs capture stderr, so it is not a terminal here.
        use std::io::IsTerminal as _;
        let b = bar(10);
        assert_eq!(b.is_hidden(), !std::io::stderr().is_terminal());
        b.inc(4);
        assert_eq!(b.position(), 4);
    }
}
