//! The whole story, live: a real Celery prefork worker runs the crawler demo on the real RabbitMQ,
//! the relay binary consumes its events and serves the web app, headless Chromium shows them, and
//! an independent recorder (`tools/record-events`, started before anything publishes) is the
//! truth everything is checked against.
//!
//! The run is isolated on the shared broker by `CRAWLER_ISOLATE` (own task queue, events and
//! control exchanges) and a node name `story-<pid>`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, ensure};
use fantoccini::Locator;
use serde_json::Value;
use stalk_e2e::celery::{Crawler, Driver, Recorder, Worker, python};
use stalk_e2e::{Browser, Relay, target_dir};

/// The relay's broker URL (its own spelling of the default vhost).
const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Installed before the app's scripts: keeps every WebSocket the app opens in
/// `window.__stalkSockets`, and refuses new ones while `window.__stalkBlock` is set (the app
/// then backs off and retries), so the test can drop the connection and hold it down.
const SOCKET_PROBE: &str = r#"(() => {
  const Native = window.WebSocket;
  window.__stalkSockets = [];
  window.__stalkBlock = false;
  function Probe(url, protocols) {
    if (window.__stalkBlock) throw new DOMException("blocked by the test", "NetworkError");
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    window.__stalkSockets.push(ws);
    return ws;
  }
  Probe.prototype = Native.prototype;
  Object.assign(Probe, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Probe;
})();"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawler_story_live_from_worker_to_browser() -> Result<()> {
    let node = format!("story-{}", std::process::id());
    let crawler = Crawler::new(&node, &target_dir().join("e2e").join(&node))?;
    let python = python().await?;
    // Bound before anything can publish; it stops by itself after the worker's `worker-offline`.
    let recorder = Recorder::start(&crawler, "story", &node).await?;
    let relay = Relay::broker(BROKER, &crawler.event_exchange()).await?;
    let mut worker = Worker::start(&python, &crawler, &node).await?;
    let browser = Browser::start().await?;
    let result = story(&browser, &relay, &python, &crawler, &mut worker, recorder).await;
    let shot = browser.screenshot("story-last").await;
    browser.close().await?;
    drop(relay);
    crawler.delete_exchanges(&python).await?;
    result.with_context(|| format!("worker log:\n{}", worker.log_tail()))?;
    shot?;
    Ok(())
}

async fn story(
    browser: &Browser,
    relay: &Relay,
    python: &std::path::Path,
    crawler: &Crawler,
    worker: &mut Worker,
    recorder: Recorder,
) -> Result<()> {
    let base = &relay.base;
    let c = &browser.client;
    browser.on_new_document(SOCKET_PROBE).await?;
    // wide enough for every column of the task table in the screenshots
    c.set_window_size(1440, 900).await?;
    c.goto(&format!("{base}/#/workers")).await?;
    let me = format!(
        r#"[data-testid="worker-row"][data-hostname="{}"]"#,
        worker.hostname
    );
    browser
        .wait_count(&format!(r#"{me}[data-alive="true"]"#), 1)
        .await?;
    browser
        .wait_count(r#"[data-testid="connection"][data-state="open"]"#, 1)
        .await?;

    // Drop the connection and hold it down while the tasks are sent and the chains run: the app
    // must get all of that by resuming (`since`) from the relay's history.
    c.execute(
        "window.__stalkBlock = true; window.__stalkSockets.at(-1).close();",
        vec![],
    )
    .await?;
    browser
        .wait_count(r#"[data-testid="connection"][data-state="open"]"#, 0)
        .await?;
    let driver = Driver::start(python, crawler).await?;
    let id = |k: &str| driver.ids[k].clone();
    recorder
        .wait_for("both visit chains' store_data succeed", |events| {
            let stored = events
                .iter()
                .filter(|e| e["type"] == "task-succeeded" && is_store(events, e))
                .count();
            stored == 2
        })
        .await?;
    let missed = relay.newest_seq().await?;
    c.execute("window.__stalkBlock = false;", vec![]).await?;
    let url = browser
        .wait_until("the app to reconnect", || async {
            let urls = js_strings(browser, "return window.__stalkSockets.map(s => s.url);").await?;
            Ok((urls.len() > 1).then(|| urls.last().cloned()).flatten())
        })
        .await?;
    let since: u64 = url
        .split_once("since=")
        .and_then(|(_, s)| s.split('&').next()?.parse().ok())
        .with_context(|| format!("the reconnect did not resume: {url}"))?;
    // It resumed where it was, and what it missed while down (since+1..=missed) can only come
    // from the relay's history.
    ensure!(
        0 < since && since < missed,
        "since={since}, relay at {missed}"
    );

    // Every task in its final state, and nothing else.
    let want: BTreeMap<String, &str> = [
        (id("good"), "SUCCESS"),
        (id("missing"), "FAILURE"),
        // `task-failed` then `task-rejected`: Celery's State keeps FAILURE (REJECTED ranks lower)
        (id("closed"), "FAILURE"),
        (id("expired"), "REVOKED"),
        (id("xss"), "SUCCESS"),
    ]
    .into_iter()
    .collect();
    c.goto(&format!("{base}/#/tasks")).await?;
    let rows = browser
        .wait_until("every task in its final state", || async {
            let rows = task_rows(browser).await?;
            let done = rows.len() == 9
                && want
                    .iter()
                    .all(|(id, s)| rows.get(id).map(String::as_str) == Some(*s))
                && rows.values().all(|s| FINAL.contains(&s.as_str()));
            Ok(done.then_some(rows))
        })
        .await?;
    browser.wait_count(r#"[data-testid="gap"]"#, 0).await?;
    let shot = browser.screenshot("story-tasks").await?;
    if let Some(dest) = std::env::var_os("STALK_SCREENSHOT") {
        std::fs::copy(&shot, stalk_e2e::root().join(dest)).context("STALK_SCREENSHOT")?;
    }

    // visit -> extract -> store, every node SUCCESS, the visit at the root.
    c.goto(&format!("{base}/#/tree/{}", id("good"))).await?;
    let nodes = browser
        .wait_count(r#"[data-testid="tree-node"]"#, 3)
        .await?;
    let states = browser
        .attrs(r#"[data-testid="tree-node"]"#, "data-state")
        .await?;
    ensure!(states == ["SUCCESS"; 3], "tree states {states:?}");
    ensure!(
        nodes[0].attr("data-task-id").await? == Some(id("good")),
        "the visit is the root"
    );
    let text = c.find(Locator::Css("main")).await?.text().await?;
    for name in [
        "tasks.visit",
        "tasks.extract_data_from_html",
        "tasks.store_data",
    ] {
        ensure!(text.contains(name), "the tree lacks {name}: {text}");
    }
    browser.screenshot("story-tree").await?;

    // The 404: retried 3 times, then FAILURE with its traceback.
    let fields = task_page(browser, base, &id("missing")).await?;
    ensure!(
        fields["state"] == "FAILURE" && fields["retries"] == "3",
        "{fields:?}"
    );
    let traceback = c
        .find(Locator::Css(r#"[data-testid="traceback"]"#))
        .await?
        .text()
        .await?;
    ensure!(
        traceback.contains("HTTPError") && traceback.contains("404"),
        "{traceback}"
    );
    // The closed port: rejected for good (`Reject(requeue=False)`), which the page tells.
    let rejected = task_page(browser, base, &id("closed")).await?;
    ensure!(
        rejected.contains_key("rejected")
            && rejected.get("requeue").map(String::as_str) == Some("false"),
        "no rejection time or requeue flag: {rejected:?}"
    );
    let exception = c
        .find(Locator::Css(r#"[data-testid="exception"]"#))
        .await?
        .text()
        .await?;
    ensure!(exception.contains("reject requeue=False"), "{exception}");
    let revoked = task_page(browser, base, &id("expired")).await?;
    // The revoke's own fields, which the State keeps without naming them, are shown too.
    ensure!(
        revoked["state"] == "REVOKED"
            && revoked.get("expired").map(String::as_str) == Some("true")
            && revoked.get("terminated").map(String::as_str) == Some("false"),
        "{revoked:?}"
    );
    browser.screenshot("story-task-revoked").await?;

    // Hostile strings are text, never markup.
    let xss = task_page(browser, base, &id("xss")).await?;
    for payload in [
        "<script>window.__xss=1</script>",
        r#"<img src=x onerror="window.__xss=1">"#,
    ] {
        ensure!(
            xss["args"].contains(payload),
            "args {:?} lack {payload}",
            xss["args"]
        );
    }
    let executed = c
        .execute("return typeof window.__xss !== 'undefined' || document.querySelector('img[src=x]') !== null;", vec![])
        .await?;
    ensure!(executed == Value::Bool(false), "an XSS payload ran");

    // A warm shutdown sends `worker-offline`: the row turns offline.
    c.goto(&format!("{base}/#/workers")).await?;
    browser
        .wait_count(&format!(r#"{me}[data-alive="true"]"#), 1)
        .await?;
    worker.warm_shutdown().await?;
    browser
        .wait_count(&format!(r#"{me}[data-alive="false"]"#), 1)
        .await?;

    // Nothing publishes any more: the recording is complete, and its two forms agree.
    let recording = recorder.finish().await?;
    let in_messages: u64 = recording
        .messages
        .iter()
        .map(|m| m["n_events"].as_u64().unwrap_or(0))
        .sum();
    ensure!(
        in_messages == recording.events.len() as u64
            && Some(in_messages) == recording.meta["events_total"].as_u64(),
        "{in_messages} events in the raw messages, {} in the receiver form, meta {}",
        recording.events.len(),
        recording.meta
    );

    // The page that lost its socket holds every event exactly once.
    event_log_complete(browser, base, &recording.events).await?;

    // A reload rebuilds the same tasks from the relay's history.
    c.goto(&format!("{base}/#/tasks")).await?;
    c.refresh().await?;
    let reloaded = browser
        .wait_until("the same tasks after a reload", || async {
            let now = task_rows(browser).await?;
            Ok((now == rows).then_some(now))
        })
        .await?;
    ensure!(reloaded.len() == 9);

    // Zero events lost: the relay holds every event the recorder saw, type by type, and the
    // browser every task.
    no_event_lost(relay, &recording.meta).await?;
    let recorded_tasks: BTreeSet<String> = recording
        .events
        .iter()
        .filter_map(|e| Some(e["uuid"].as_str()?.to_owned()))
        .collect();
    let shown: BTreeSet<String> = rows.keys().cloned().collect();
    ensure!(
        shown == recorded_tasks,
        "shown {shown:?}\nrecorded {recorded_tasks:?}"
    );
    Ok(())
}

/// States a task of this story ends in.
const FINAL: [&str; 3] = ["SUCCESS", "FAILURE", "REVOKED"];

/// `e` is the event of a `store_data` task (its name comes with the task's `task-sent`).
fn is_store(events: &[Value], e: &Value) -> bool {
    events.iter().any(|s| {
        s["uuid"] == e["uuid"]
            && s["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("store_data"))
    })
}

/// The event log of the page (the same document that resumed: no reload since) has the relay's
/// seqs `1..=n` exactly once each, `n` being the number of events recorded, and the recorder's
/// events type by type.
async fn event_log_complete(browser: &Browser, base: &str, recorded: &[Value]) -> Result<()> {
    let c = &browser.client;
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for e in recorded {
        *want
            .entry(e["type"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    let n = recorded.len();
    // Tall enough for every row of the virtualised log to be in the DOM.
    c.set_window_size(1440, 900 + 28 * n as u32).await?;
    c.goto(&format!("{base}/#/events")).await?;
    let rows: Vec<(u64, String)> = browser
        .wait_until("every event in the event log", || async {
            let v = c
                .execute(
                    // The log sizes its window of rows on scroll events: tell it the box grew.
                    r#"const first = document.querySelector('[data-testid="event-row"]');
                    if (first) first.closest('table').parentElement.dispatchEvent(new Event('scroll'));
                    return Array.from(document.querySelectorAll('[data-testid="event-row"]'))
                        .map(r => [Number(r.dataset.seq), r.dataset.type]);"#,
                    vec![],
                )
                .await?;
            let rows: Vec<(u64, String)> = serde_json::from_value(v)?;
            Ok((rows.len() >= n).then_some(rows))
        })
        .await?;
    c.set_window_size(1440, 900).await?;
    let sockets = c
        .execute("return window.__stalkSockets.length;", vec![])
        .await?;
    ensure!(
        sockets.as_u64() >= Some(2),
        "the page was reloaded: {sockets} sockets"
    );
    let mut seqs: Vec<u64> = rows.iter().map(|r| r.0).collect();
    seqs.sort_unstable();
    ensure!(
        seqs == (1..=n as u64).collect::<Vec<_>>(),
        "event log seqs {seqs:?}, want 1..={n}"
    );
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for (_, t) in rows {
        *got.entry(t).or_default() += 1;
    }
    ensure!(got == want, "event log types {got:?}\nrecorded {want:?}");
    Ok(())
}

/// Strings returned by a script.
async fn js_strings(browser: &Browser, script: &str) -> Result<Vec<String>> {
    let v = browser.client.execute(script, vec![]).await?;
    Ok(serde_json::from_value(v)?)
}

/// The task table as `task id -> state`, read in one script (rows are redrawn all the time).
async fn task_rows(browser: &Browser) -> Result<BTreeMap<String, String>> {
    let v = browser
        .client
        .execute(
            r#"return Array.from(document.querySelectorAll('[data-testid="task-row"]'))
                .map(r => [r.dataset.taskId, r.dataset.state]);"#,
            vec![],
        )
        .await?;
    let pairs: Vec<(String, String)> = serde_json::from_value(v)?;
    Ok(pairs.into_iter().collect())
}

/// Opens a task's page and reads its `<dl>` as `field -> text`.
async fn task_page(browser: &Browser, base: &str, id: &str) -> Result<BTreeMap<String, String>> {
    browser.client.goto(&format!("{base}/#/task/{id}")).await?;
    browser
        .wait_count(
            &format!(r#"[data-testid="task-detail"][data-task-id="{id}"]"#),
            1,
        )
        .await?;
    let v = browser
        .client
        .execute(
            r#"return Array.from(document.querySelectorAll('[data-testid="task-detail"] dt'))
                .map(dt => [dt.textContent, dt.nextElementSibling.textContent]);"#,
            vec![],
        )
        .await?;
    let pairs: Vec<(String, String)> = serde_json::from_value(v)?;
    Ok(pairs.into_iter().collect())
}

/// The relay's event counters equal the recorder's, in total and type by type, and it dropped
/// nothing as undecodable.
async fn no_event_lost(relay: &Relay, meta: &Value) -> Result<()> {
    let recorded: BTreeMap<String, f64> = meta["events_by_type"]
        .as_object()
        .context("events_by_type")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(-1.0)))
        .collect();
    let total = meta["events_total"].as_f64().context("events_total")?;
    let metrics = relay_counted(relay, total).await?;
    let relayed: BTreeMap<String, f64> = metrics
        .iter()
        .filter_map(|(k, v)| {
            let t = k.strip_prefix("stalk_events_by_type_total{type=\"")?;
            Some((t.trim_end_matches("\"}").to_owned(), *v))
        })
        .collect();
    ensure!(
        relayed == recorded,
        "by type: relay {relayed:?}\nrecorder {recorded:?}"
    );
    let errors: f64 = metrics
        .iter()
        .filter(|(k, _)| k.starts_with("stalk_decode_errors_total"))
        .map(|(_, v)| v)
        .sum();
    ensure!(errors == 0.0, "decode errors: {errors}");
    eprintln!("story: {total} events, recorder and relay agree type by type: {recorded:?}");
    Ok(())
}

/// Waits until the relay counted `total` events (it may lag the recorder by a moment).
async fn relay_counted(relay: &Relay, total: f64) -> Result<BTreeMap<String, f64>> {
    let start = std::time::Instant::now();
    loop {
        let m = relay.metrics().await?;
        let n = m.get("stalk_events_total").copied().unwrap_or(0.0);
        if n >= total || start.elapsed() > stalk_e2e::TIMEOUT {
            ensure!(
                n == total,
                "the relay counted {n} events, the recorder {total}"
            );
            return Ok(m);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
