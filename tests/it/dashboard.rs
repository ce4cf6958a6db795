//! The dashboard in headless Chromium: it loads without console errors, lists every
//! provider with its state, follows requests without a reload, shows a cooldown's reason
//! and countdown, runs the playground, and loads no data without the client key.
//! Screenshots go to `target/dashboard-screenshots/`.

use serde_json::json;

use crate::browser::{Browser, driver_path, screenshot_dir};
use crate::harness::fixtures;
use crate::harness::{CLIENT_KEY, P, Setup, hello};

/// `true` once `selector` matches at least `n` elements.
fn count_at_least(selector: &str, n: usize) -> String {
    format!("return document.querySelectorAll({selector:?}).length >= {n};")
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one browser session walks through the states in order; split, each part would start its own"
)]
async fn dashboard_follows_requests_and_cooldowns_live() {
    let Some(driver) = driver_path() else { return };
    let s = Setup::new().await.keyed(&[P::Groq, P::Cerebras]);
    s.up.serve_ok(P::Cerebras).await;
    s.up.serve_error(
        P::Groq,
        fixtures::json(
            429,
            fixtures::GROQ_429_TPM,
            Some("HTTP/1.1 429\nretry-after: 600\n"),
        ),
    )
    .await;
    let gw = s.serve().await;
    let browser = Browser::start(&driver).await;
    browser.goto(&gw.url("/")).await;

    // Every compiled-in provider has a row with its state.
    browser
        .wait_for("five provider rows", &count_at_least("tr.provider", 5))
        .await;
    let states = browser
        .eval(
            "return Array.from(document.querySelectorAll('tr.provider')).map(r => [r.dataset.provider, r.dataset.state, r.querySelector('td.state').innerText]);",
            json!([]),
        )
        .await;
    let states = states.as_array().unwrap();
    for id in ["groq", "cerebras", "gemini", "openrouter", "cohere"] {
        let row = states
            .iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("no row for {id}: {states:?}"));
        let expected = if id == "groq" || id == "cerebras" {
            "healthy"
        } else {
            "disabled_no_key"
        };
        assert_eq!(row[1], expected, "{id}: {row}");
        assert!(
            row[2]
                .as_str()
                .unwrap()
                .contains(&expected.replace('_', " ")),
            "{row}"
        );
    }
    assert_eq!(
        browser
            .eval(
                "return document.getElementById('today-count').innerText",
                json!([])
            )
            .await,
        "0"
    );
    assert_eq!(
        browser
            .eval(
                "return document.querySelectorAll('#requests tbody tr').length",
                json!([])
            )
            .await,
        0
    );
    browser
        .screenshot(&screenshot_dir().join("start.png"))
        .await;

    // A request through the gateway shows up without a reload.
    let r = gw.chat(&hello("cerebras")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    browser
        .wait_for(
            "the request in the list and the day's count up",
            // The count follows the ledger, which also reads the upstream's rate-limit
            // headers: the fixture's remaining figure says more than one call is spent.
            "return document.querySelectorAll('#requests tbody tr').length === 1 \
             && Number(document.getElementById('today-count').innerText) > 0;",
        )
        .await;
    let row = browser
        .eval(
            "return document.querySelector('#requests tbody tr').innerText",
            json!([]),
        )
        .await;
    assert!(
        row.as_str().unwrap().contains("cerebras/gpt-oss-120b:ok"),
        "{row}"
    );

    // Groq answers 429 with retry-after: its row shows the state, why, and a countdown.
    let r = gw.chat(&hello("groq")).await;
    assert_eq!(r.status, 502, "{}", r.body);
    browser
        .wait_for(
            "groq rate limited with a countdown",
            "const row = document.querySelector('tr.provider[data-provider=groq]'); \
             if (!row || row.dataset.state !== 'rate_limited') return false; \
             const cd = row.querySelector('td.countdown'); \
             return !!cd && /^\\d+m \\d+s$/.test(cd.innerText) \
               && row.querySelector('td.state .reason').innerText.includes('rate_limited');",
        )
        .await;
    let countdown = browser
        .eval(
            "return document.querySelector('tr.provider[data-provider=groq] td.countdown').innerText",
            json!([]),
        )
        .await;
    let minutes: u64 = countdown
        .as_str()
        .unwrap()
        .split('m')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // From the 600 s retry-after, not the 60 s cooldown_secs (a loose lower bound: this is
    // not a timing check).
    assert!(
        (2..=10).contains(&minutes),
        "retry-after 600 s: {countdown}"
    );
    browser
        .wait_for(
            "the failed request with its trail",
            "const rows = document.querySelectorAll('#requests tbody tr'); \
             return rows.length === 2 && rows[0].innerText.includes('groq') \
               && rows[0].dataset.outcome === 'all_providers_failed';",
        )
        .await;

    // The playground streams an answer and shows its trail.
    browser
        .wait_for(
            "the playground's model list",
            "return Array.from(document.getElementById('pg-model').options).some(o => o.value === 'cerebras');",
        )
        .await;
    browser
        .eval(
            "const select = document.getElementById('pg-model'); \
             select.value = 'cerebras'; \
             if (select.value !== 'cerebras') throw new Error('no cerebras option'); \
             document.getElementById('pg-prompt').value = 'Say hello'; \
             document.getElementById('pg-send').click();",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "the playground's answer and trail",
            "return document.getElementById('pg-answer').innerText.length > 0 \
             && document.getElementById('pg-trail').innerText.includes('cerebras/gpt-oss-120b:ok');",
        )
        .await;
    browser
        .wait_for(
            "the playground's request in the list",
            &count_at_least("#requests tbody tr", 3),
        )
        .await;
    browser
        .screenshot(&screenshot_dir().join("cooldown.png"))
        .await;

    let console = browser.console().await;
    let errors: Vec<&String> = console
        .iter()
        .filter(|l| l.starts_with("SEVERE") || l.starts_with("WARNING"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    browser.close().await;
}

#[tokio::test]
async fn dashboard_loads_no_data_without_the_client_key() {
    let Some(driver) = driver_path() else { return };
    let s = Setup::new()
        .await
        .keyed(&[P::Cerebras])
        .var("LLMPOOL_API_KEYS", CLIENT_KEY);
    s.up.serve_ok(P::Cerebras).await;
    let gw = s.serve().await;
    let browser = Browser::start(&driver).await;
    browser.goto(&gw.url("/")).await;
    browser
        .wait_for(
            "the key prompt",
            "return !document.getElementById('auth').hidden && document.getElementById('main').hidden;",
        )
        .await;
    assert_eq!(
        browser
            .eval(
                "return document.querySelectorAll('tr.provider').length",
                json!([])
            )
            .await,
        0,
        "no data without the key"
    );
    browser.screenshot(&screenshot_dir().join("auth.png")).await;

    // A wrong key is refused; the right one opens the page.
    browser
        .eval(
            "document.getElementById('token').value = 'wrong-key'; \
             document.querySelector('#auth button').click();",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "the refusal",
            "return document.getElementById('auth-error').innerText.includes('not accepted');",
        )
        .await;
    browser
        .eval(
            "document.getElementById('token').value = arguments[0]; \
             document.querySelector('#auth button').click();",
            json!([CLIENT_KEY]),
        )
        .await;
    browser
        .wait_for("five provider rows", &count_at_least("tr.provider", 5))
        .await;
    // The only console errors are the refused data requests (401s), nothing else.
    let console = browser.console().await;
    let unexpected: Vec<&String> = console
        .iter()
        .filter(|l| l.starts_with("SEVERE") && !l.contains("401"))
        .collect();
    assert!(unexpected.is_empty(), "console errors: {unexpected:#?}");
    assert!(console.iter().any(|l| l.contains("401")), "{console:#?}");
    browser.close().await;
}
