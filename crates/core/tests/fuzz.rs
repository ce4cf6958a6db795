//! Fuzz targets for what core reads from outside: provider duration texts (rate-limit
//! resets, `retry-after`, waits in messages) through `parse_duration`.
//!
//! Short bounded runs here; `cargo xtask fuzz --secs N` runs them longer.

use std::time::Duration;

use llmpool_core::parse_duration;
use llmpool_testkit::fuzz;
use proptest::prelude::*;

#[test]
fn fuzz_durations_parse_or_are_refused() {
    let strategy = prop_oneof![fuzz::header_value(), fuzz::text(24)];
    fuzz::run(1024, &strategy, |text| {
        let parsed = parse_duration(&text);
        if text.trim().is_empty() {
            assert_eq!(parsed, None);
        }
        // Leading and trailing spaces never change the reading.
        assert_eq!(parse_duration(&format!("  {text}\t")), parsed, "{text:?}");
        if let Ok(secs) = text.trim().parse::<f64>() {
            // A plain number is seconds: negative, NaN and infinite are refused.
            assert_eq!(parsed, Duration::try_from_secs_f64(secs).ok(), "{text:?}");
        }
    });
}

#[test]
fn fuzz_go_durations_add_up() {
    let strategy = (0..1_000_u32, 0..1_000_u32, 0..100_000_u32, 0..1_000_u32);
    fuzz::run(512, &strategy, |(h, m, ms_total, us)| {
        let secs = f64::from(ms_total) / 1000.0;
        let text = format!("{h}h{m}m{secs}s{us}us");
        let expected = f64::from(h) * 3600.0 + f64::from(m) * 60.0 + secs + f64::from(us) * 1e-6;
        let parsed = parse_duration(&text).map(|d| d.as_secs_f64());
        let Some(parsed) = parsed else {
            panic!("{text:?} was refused");
        };
        assert!(
            (parsed - expected).abs() < 1e-6,
            "{text:?}: {parsed} != {expected}"
        );
        // A unit the providers never write is refused, not guessed.
        assert_eq!(parse_duration(&format!("{h}x")), None);
    });
}
