//! The web app in a real headless Chromium, against the relay replaying a real recording.

use anyhow::{Context, Result, ensure};
use fantoccini::Locator;
use stalk_e2e::{Browser, Relay};

/// `happy.raw.ndjson`: 3 `visit -> extract -> store` chains plus `add` and `echo`, all succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_recording_shows_tasks_and_a_visit_tree() -> Result<()> {
    let relay = Relay::replay("relay/tests/fixtures/happy.raw.ndjson").await?;
    let browser = Browser::start().await?;
    let result = check_happy(&browser, &relay.base).await;
    // A screenshot whatever happened: the artifact that shows what the page looked like.
    let shot = browser.screenshot("happy").await;
    browser.close().await?;
    result?;
    eprintln!("screenshot: {}", shot?.display());
    Ok(())
}

async fn check_happy(browser: &Browser, base: &str) -> Result<()> {
    let c = &browser.client;
    c.goto(&format!("{base}/#/tasks")).await?;
    browser
        .wait_count(r#"[data-testid="connection"][data-state="open"]"#, 1)
        .await?;
    let rows = browser
        .wait_count(r#"[data-testid="task-row"]"#, 11)
        .await?;
    let mut visit = None;
    for row in &rows {
        let name = row
            .find(Locator::Css("td:nth-child(2)"))
            .await?
            .text()
            .await?;
        if name == "example_app.tasks.visit" {
            visit = row.attr("data-task-id").await?;
        }
    }
    let visit = visit.context("no visit task in the table")?;
    c.goto(&format!("{base}/#/tree/{visit}")).await?;
    let nodes = browser
        .wait_count(r#"[data-testid="tree-node"]"#, 3)
        .await?;
    let mut states = Vec::new();
    for n in &nodes {
        states.push(n.attr("data-state").await?.unwrap_or_default());
    }
    ensure!(states == ["SUCCESS"; 3], "tree node states: {states:?}");
    ensure!(
        nodes[0].attr("data-task-id").await?.as_deref() == Some(visit.as_str()),
        "the visit task is the root of its tree"
    );
    Ok(())
}
