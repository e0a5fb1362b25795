//! The app's views in a real headless Chromium, against the relay replaying real recordings:
//! the event log (`#/events`), the dashboard, the task table's filters and sorting (driven by the
//! address), the task page's timeline, the worker page, and the keyboard shortcuts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fantoccini::Locator;
use fantoccini::elements::Element;
use stalk_e2e::{Browser, Relay, TIMEOUT, root};

/// Counts of each event type in a raw recording (one AMQP message per line; a body may be a batch).
fn recorded_types(recording: &str) -> Result<BTreeMap<String, usize>> {
    let text = std::fs::read_to_string(root().join(recording))?;
    let mut types = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let msg: serde_json::Value = serde_json::from_str(line)?;
        let body = match &msg["body"] {
            serde_json::Value::String(s) => serde_json::from_str(s)?,
            other => other.clone(),
        };
        let events = match body {
            serde_json::Value::Array(list) => list,
            one => vec![one],
        };
        for e in events {
            let t = e["type"].as_str().context("event without type")?.to_owned();
            *types.entry(t).or_default() += 1;
        }
    }
    Ok(types)
}

/// `(data-type, data-state, data-task-id)` of every event row in the DOM.
async fn event_rows(browser: &Browser) -> Result<Vec<(String, String, String)>> {
    let mut rows = Vec::new();
    for r in browser
        .client
        .find_all(Locator::Css(r#"[data-testid="event-row"]"#))
        .await?
    {
        let attr = |name: &'static str| {
            let r = r.clone();
            async move { Ok::<_, anyhow::Error>(r.attr(name).await?.unwrap_or_default()) }
        };
        rows.push((
            attr("data-type").await?,
            attr("data-state").await?,
            attr("data-task-id").await?,
        ));
    }
    Ok(rows)
}

/// Waits until `check` holds for the rows, returning them.
async fn wait_rows(
    browser: &Browser,
    what: &str,
    check: impl Fn(&[(String, String, String)]) -> bool,
) -> Result<Vec<(String, String, String)>> {
    let start = Instant::now();
    loop {
        let rows = event_rows(browser).await?;
        if check(&rows) {
            return Ok(rows);
        }
        if start.elapsed() > TIMEOUT {
            bail!("event rows never {what}: {rows:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn find(browser: &Browser, css: &str) -> Result<Element> {
    let start = Instant::now();
    loop {
        if let Ok(e) = browser.client.find(Locator::Css(css)).await {
            return Ok(e);
        }
        if start.elapsed() > TIMEOUT {
            bail!("{css}: not found");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `check` in a fresh browser against a relay replaying `recording`; screenshot `name`.
async fn with_page<F>(recording: &str, name: &str, check: F) -> Result<()>
where
    F: AsyncFnOnce(&Browser, &str) -> Result<()>,
{
    let relay = Relay::replay(recording).await?;
    let browser = Browser::start().await?;
    let result = check(&browser, &relay.base).await;
    let shot = browser.screenshot(name).await;
    browser.close().await?;
    result?;
    eprintln!("screenshot: {}", shot?.display());
    Ok(())
}

/// `retry_fail.raw.ndjson`: a task retried 3 times then failed, and more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_page_shows_every_event_filters_pauses_and_links_to_the_task() -> Result<()> {
    let recording = "relay/tests/fixtures/retry_fail.raw.ndjson";
    let types = recorded_types(recording)?;
    let total: usize = types.values().sum();
    with_page(recording, "events-end", async |browser, base| {
        let c = &browser.client;
        c.goto(&format!("{base}/#/events")).await?;
        // Every event, once, newest first; the recording is short enough to be all in view.
        let rows = wait_rows(browser, "complete", |r| r.len() == total).await?;
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (t, _, _) in &rows {
            *seen.entry(t.clone()).or_default() += 1;
        }
        ensure!(seen == types, "types in the page {seen:?} != recorded {types:?}");
        browser.screenshot("events").await?;
        let seqs = {
            let mut v = Vec::new();
            for r in c.find_all(Locator::Css(r#"[data-testid="event-row"]"#)).await? {
                v.push(r.attr("data-seq").await?.unwrap_or_default().parse::<u64>()?);
            }
            v
        };
        ensure!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
        // The merged state after each event: the last event of the failed task is FAILURE.
        let (_, failed_state, failed_task) = rows
            .iter()
            .find(|(t, _, _)| t == "task-failed")
            .context("a task-failed row")?
            .clone();
        ensure!(failed_state == "FAILURE", "state after task-failed: {failed_state}");

        // Filter by type.
        find(browser, r#"[data-testid="event-type-filter"]"#)
            .await?
            .select_by_value("task-retried")
            .await?;
        let want = types["task-retried"];
        wait_rows(browser, "task-retried only", |r| {
            r.len() == want && r.iter().all(|(t, s, _)| t == "task-retried" && s == "RETRY")
        })
        .await?;
        // Back to all types, then filter by state: exactly the rows that had that state.
        find(browser, r#"[data-testid="event-type-filter"]"#)
            .await?
            .select_by_value("")
            .await?;
        let failures = rows.iter().filter(|(_, s, _)| s == "FAILURE").count();
        find(browser, r#"[data-testid="event-state-filter"]"#)
            .await?
            .select_by_value("FAILURE")
            .await?;
        wait_rows(browser, "FAILURE only", |r| {
            r.len() == failures && r.iter().all(|(_, s, _)| s == "FAILURE")
        })
        .await?;
        find(browser, r#"[data-testid="event-state-filter"]"#)
            .await?
            .select_by_value("")
            .await?;
        // Text filter on a task id: that task's events only.
        let of_task = rows.iter().filter(|(_, _, id)| *id == failed_task).count();
        find(browser, r#"[data-testid="event-text-filter"]"#)
            .await?
            .send_keys(&failed_task)
            .await?;
        wait_rows(browser, "one task's", |r| {
            r.len() == of_task && r.iter().all(|(_, _, id)| *id == failed_task)
        })
        .await?;

        // Pause and resume.
        let pause = find(browser, r#"[data-testid="event-pause"]"#).await?;
        pause.click().await?;
        let paused = find(browser, r#"[data-testid="event-pause"][data-paused="true"]"#).await?;
        paused.click().await?;
        find(browser, r#"[data-testid="event-pause"][data-paused="false"]"#).await?;

        // Click-through to the task, then to its tree.
        let link = find(
            browser,
            &format!(r#"[data-testid="event-row"][data-task-id="{failed_task}"] td:nth-child(5) a.mono"#),
        )
        .await?;
        link.click().await?;
        let detail = find(browser, r#"[data-testid="task-detail"]"#).await?;
        ensure!(
            detail.attr("data-task-id").await?.as_deref() == Some(failed_task.as_str()),
            "the task page of the clicked row"
        );
        find(browser, r#"[data-testid="traceback"]"#).await?;
        let steps = c
            .find_all(Locator::Css(r#"[data-testid="timeline"] li"#))
            .await?;
        let mut labels = Vec::new();
        for s in steps {
            labels.push(s.attr("data-step").await?.unwrap_or_default());
        }
        ensure!(
            labels.first().map(String::as_str) == Some("sent")
                && labels.last().map(String::as_str) == Some("failed"),
            "timeline of the failed task: {labels:?}"
        );
        c.back().await?;
        let tree = find(
            browser,
            &format!(r#"[data-testid="event-row"][data-task-id="{failed_task}"] [data-testid="event-tree-link"]"#),
        )
        .await?;
        tree.click().await?;
        find(
            browser,
            &format!(r#"[data-testid="tree-node"][data-task-id="{failed_task}"][data-state="FAILURE"]"#),
        )
        .await?;
        Ok(())
    })
    .await
}

/// `happy.raw.ndjson`: 11 tasks, all SUCCESS, from one worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_table_filters_worker_page_and_keys() -> Result<()> {
    with_page("relay/tests/fixtures/happy.raw.ndjson", "keys-end", async |browser, base| {
        let c = &browser.client;
        c.goto(&format!("{base}/#/")).await?;
        browser
            .wait_count(r#"[data-testid="state-count"][data-state="SUCCESS"]"#, 1)
            .await?;
        let count = find(browser, r#"[data-testid="tasks-in-memory"]"#).await?;
        let start = Instant::now();
        while count.text().await? != "11" {
            ensure!(start.elapsed() < TIMEOUT, "tasks in memory: {}", count.text().await?);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        browser.screenshot("dashboard").await?;
        let title = c.title().await?;
        ensure!(title == "Dashboard · stalk", "tab title: {title}");
        ensure!(
            c.find_all(Locator::Css(r#"[data-testid="failure-row"]"#)).await?.is_empty(),
            "no failures in this recording"
        );

        // The table's filters live in the address.
        c.goto(&format!("{base}/#/tasks?name=example_app.tasks.visit")).await?;
        browser.wait_count(r#"[data-testid="task-row"]"#, 3).await?;
        find(browser, r#"[data-testid="task-state-filter"]"#)
            .await?
            .select_by_value("FAILURE")
            .await?;
        browser.wait_count(r#"[data-testid="task-row"]"#, 0).await?;
        let url = c.current_url().await?;
        ensure!(
            url.fragment() == Some("/tasks?state=FAILURE&name=example_app.tasks.visit"),
            "filters in the address: {url}"
        );
        // Sorting by name, ascending after two clicks: the first row is the alphabetically first.
        c.goto(&format!("{base}/#/tasks")).await?;
        browser.wait_count(r#"[data-testid="task-row"]"#, 11).await?;
        find(browser, r#"[data-testid="sort-name"]"#).await?.click().await?;
        find(browser, r#"[data-testid="sort-name"][aria-sort="descending"]"#)
            .await?
            .click()
            .await?;
        find(browser, r#"[data-testid="sort-name"][aria-sort="ascending"]"#).await?;
        let first = find(browser, r#"[data-testid="task-row"] td:nth-child(2)"#).await?;
        ensure!(
            first.text().await? == "example_app.tasks.add",
            "first by name: {}",
            first.text().await?
        );

        // The worker page, from the table's worker link.
        find(browser, r#"[data-testid="task-row"] td:nth-child(7) a"#)
            .await?
            .click()
            .await?;
        let worker = find(browser, r#"[data-testid="worker-detail"]"#).await?;
        browser.screenshot("worker").await?;
        ensure!(
            worker.attr("data-hostname").await?.as_deref() == Some("prefork1@vm"),
            "worker page"
        );
        ensure!(
            worker.text().await?.contains("Its tasks in memory: 11"),
            "the worker's task count: {}",
            worker.text().await?
        );

        // Keyboard: 3 opens the event log, / focuses its search box.
        let press = |key: &str| {
            let script = format!(
                "document.body.dispatchEvent(new KeyboardEvent('keydown', {{key: '{key}', bubbles: true}}))"
            );
            async move { c.execute(&script, vec![]).await }
        };
        press("3").await?;
        find(browser, r#"[data-testid="event-type-filter"]"#).await?;
        press("/").await?;
        let focused = c
            .execute("return document.activeElement.dataset.testid || ''", vec![])
            .await?;
        ensure!(focused == "event-text-filter", "focused: {focused}");
        Ok(())
    })
    .await
}

/// Writes a recording (receiver form) of a 120-task chain, a 1,200-child group (12 failed) and a
/// 60-child group, returns its path.
fn deep_and_wide_recording() -> Result<std::path::PathBuf> {
    let mut lines = Vec::new();
    let mut clock = 0;
    let mut t = 1_800_000_000.0;
    let mut task = |uuid: &str, parent: Option<&str>, root: &str, ok: bool| {
        let parent = parent.map_or("null".to_owned(), |p| format!("\"{p}\""));
        for (kind, extra) in [
            (
                "task-received",
                r#","name":"app.step","args":"()","kwargs":"{}","retries":0"#,
            ),
            if ok {
                ("task-succeeded", r#","result":"1","runtime":0.01"#)
            } else {
                (
                    "task-failed",
                    r##","exception":"ValueError('x')","traceback":"Traceback ...""##,
                )
            },
        ] {
            clock += 1;
            t += 0.001;
            lines.push(format!(
                r#"{{"type":"{kind}","uuid":"{uuid}","hostname":"w@h","timestamp":{t},"clock":{clock},"local_received":{t},"parent_id":{parent},"root_id":"{root}"{extra}}}"#
            ));
        }
    };
    for i in 0..120 {
        let parent = (i > 0).then(|| format!("chain-{}", i - 1));
        task(&format!("chain-{i}"), parent.as_deref(), "chain-0", true);
    }
    task("group", None, "group", true);
    for i in 0..1200 {
        task(&format!("member-{i}"), Some("group"), "group", i % 100 != 0);
    }
    task("group2", None, "group2", true);
    for i in 0..60 {
        task(&format!("second-{i}"), Some("group2"), "group2", true);
    }
    let path = std::env::temp_dir().join(format!("stalk-deep-wide-{}.ndjson", std::process::id()));
    std::fs::write(&path, lines.join("\n") + "\n")?;
    Ok(path)
}

/// Indentation (px) of each tree node.
async fn node_lefts(browser: &Browser) -> Result<Vec<f64>> {
    let v = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-testid=tree-node]')]\
             .map(e => parseFloat(getComputedStyle(e).paddingLeft))",
            vec![],
        )
        .await?;
    Ok(v.as_array()
        .context("an array")?
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_chains_and_wide_groups_stay_readable() -> Result<()> {
    let recording = deep_and_wide_recording()?;
    let result = with_page(
        recording.to_str().context("utf-8 path")?,
        "tree-end",
        async |browser, base| {
            let c = &browser.client;
            // A 120-long chain: every node drawn, in one column.
            c.goto(&format!("{base}/#/tree/chain-119")).await?;
            browser
                .wait_count(r#"[data-testid="tree-node"]"#, 120)
                .await?;
            let lefts = node_lefts(browser).await?;
            let (min, max) = lefts
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            ensure!(
                lefts.len() == 120 && max - min < 1.0,
                "a chain is one column: {min}..{max}"
            );
            browser.screenshot("tree-deep").await?;

            // 1,200 children: 50 drawn, the rest summarised with their states, until expanded.
            c.goto(&format!("{base}/#/tree/group")).await?;
            browser
                .wait_count(r#"[data-testid="tree-node"]"#, 51)
                .await?;
            let more = find(browser, r#"[data-testid="tree-more"]"#).await?;
            ensure!(
                more.attr("data-hidden").await?.as_deref() == Some("1150"),
                "hidden count"
            );
            let text = more.text().await?;
            ensure!(
                text.contains("1139 SUCCESS") && text.contains("11 FAILURE"),
                "summary: {text}"
            );
            browser.screenshot("tree-wide").await?;
            more.find(Locator::Css("button")).await?.click().await?;
            browser
                .wait_count(r#"[data-testid="tree-node"]"#, 1201)
                .await?;
            // Folding the root hides everything below it; unfolding shows it again.
            let root_toggle =
                r#"[data-testid="tree-node"][data-task-id="group"] [data-testid="tree-toggle"]"#;
            for shown in [1, 1201] {
                find(browser, root_toggle).await?.click().await?;
                browser
                    .wait_count(r#"[data-testid="tree-node"]"#, shown)
                    .await?;
            }

            // The same workflows drawn as an SVG graph: a box per task, an edge per parent ->
            // child. The choice of drawing stays while moving between trees.
            let graph_nodes = r#"[data-testid="tree-graph"] [data-testid="tree-node"]"#;
            let edges = r#"[data-testid="tree-graph"] [data-testid="tree-edge"]"#;
            find(browser, r#"[data-testid="tree-view-switch"]"#)
                .await?
                .click()
                .await?;
            browser.wait_count(graph_nodes, 1201).await?;
            browser.wait_count(edges, 1200).await?;
            c.goto(&format!("{base}/#/tree/chain-0")).await?;
            browser.wait_count(graph_nodes, 120).await?;
            browser.wait_count(edges, 119).await?;
            // A second group of 60: 50 drawn and one summary box, all hanging off the root.
            c.goto(&format!("{base}/#/tree/group2")).await?;
            browser.wait_count(graph_nodes, 51).await?;
            browser.wait_count(edges, 51).await?;
            browser.screenshot("tree-graph").await?;
            find(
                browser,
                r#"[data-testid="tree-graph"] [data-testid="tree-more"]"#,
            )
            .await?
            .click()
            .await?;
            browser.wait_count(graph_nodes, 61).await?;
            browser.wait_count(edges, 60).await?;
            Ok(())
        },
    )
    .await;
    let _ = std::fs::remove_file(&recording);
    result
}

/// Text behind a link's `href` (a Blob URL), fetched by the page itself.
async fn fetch_link(browser: &Browser, css: &str) -> Result<String> {
    let link = find(browser, css).await?;
    let href = link.attr("href").await?.context("a link")?;
    let text = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch(arguments[0]).then(r => r.text()).then(done, e => done('error: ' + e))",
            vec![serde_json::Value::String(href)],
        )
        .await?;
    Ok(text.as_str().context("text")?.to_owned())
}

/// Offline mode: a recording opened in the page replaces the live relay; both exports open again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_opens_offline_and_exports_reopen() -> Result<()> {
    let file = root()
        .join("shared/tests/fixtures/retry_fail.ndjson")
        .canonicalize()?;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&file)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let mut tasks: Vec<&str> = lines.iter().filter_map(|e| e["uuid"].as_str()).collect();
    tasks.sort_unstable();
    tasks.dedup();
    let workers = 1;
    // The relay replays another recording: what the page shows must come from the file.
    with_page(
        "relay/tests/fixtures/happy.raw.ndjson",
        "offline",
        async |browser, base| {
            let c = &browser.client;
            c.goto(&format!("{base}/#/settings")).await?;
            browser
                .wait_count(r#"[data-testid="connection"][data-state="open"]"#, 1)
                .await?;
            find(browser, r#"[data-testid="open-recording"]"#)
                .await?
                .send_keys(file.to_str().context("utf-8 path")?)
                .await?;
            let message = find(browser, r#"[data-testid="files-message"]"#).await?;
            let text = message.text().await?;
            ensure!(
                text == format!(
                    "Opened retry_fail.ndjson: {} events, 0 unreadable lines skipped.",
                    lines.len()
                ),
                "{text}"
            );
            browser
                .wait_count(r#"[data-testid="connection"][data-state="offline"]"#, 1)
                .await?;
            c.goto(&format!("{base}/#/tasks")).await?;
            browser
                .wait_count(r#"[data-testid="task-row"]"#, tasks.len())
                .await?;
            for row in c
                .find_all(Locator::Css(r#"[data-testid="task-row"]"#))
                .await?
            {
                let id = row.attr("data-task-id").await?.unwrap_or_default();
                ensure!(tasks.contains(&id.as_str()), "{id} is not from the file");
            }

            // Exports: the event log in the receiver form, the State as one line per task / worker.
            c.goto(&format!("{base}/#/settings")).await?;
            find(browser, r#"[data-testid="export-events"]"#)
                .await?
                .click()
                .await?;
            let events = fetch_link(browser, r#"[data-testid="export-link"]"#).await?;
            let exported: Vec<serde_json::Value> = events
                .lines()
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()?;
            ensure!(
                exported.len() == lines.len(),
                "{} events exported",
                exported.len()
            );
            for (got, want) in exported.iter().zip(&lines) {
                ensure!(
                    got["type"] == want["type"] && got["uuid"] == want["uuid"],
                    "{got} != {want}"
                );
                ensure!(got["local_received"].is_number(), "receiver form: {got}");
            }
            find(browser, r#"[data-testid="export-state"]"#)
                .await?
                .click()
                .await?;
            let start = Instant::now();
            let state = loop {
                let text = fetch_link(browser, r#"[data-testid="export-link"]"#).await?;
                if text.contains("\"worker\"") || start.elapsed() > TIMEOUT {
                    break text;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let kinds: Vec<String> = state
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l)?;
                    Ok(v.as_object()
                        .and_then(|o| o.keys().next().cloned())
                        .unwrap_or_default())
                })
                .collect::<Result<_>>()?;
            ensure!(
                kinds.iter().filter(|k| *k == "task").count() == tasks.len()
                    && kinds.iter().filter(|k| *k == "worker").count() == workers,
                "state export: {kinds:?}"
            );
            Ok(())
        },
    )
    .await
}

/// Hostile strings in every field a page shows stay text on every page: no script runs, no
/// element is injected, the text reads as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_are_text_on_every_page() -> Result<()> {
    let script = "<script>window.__xss=1</script>";
    let img = r#"<img src=x onerror="window.__xss=2">"#;
    let json_str = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let (a, b) = (json_str(script), json_str(img));
    let worker = json_str(&format!("{img}@host"));
    let lines = [
        format!(
            r#"{{"type":"worker-online","hostname":{worker},"freq":2.0,"sw_ident":{a},"sw_ver":{b},"timestamp":1800000000.0,"clock":1,"local_received":1800000000.0}}"#
        ),
        format!(
            r#"{{"type":"task-received","uuid":"xss-1","name":{a},"args":{b},"kwargs":{a},"hostname":{worker},"timestamp":1800000000.1,"clock":2,"local_received":1800000000.1,"root_id":"xss-1"}}"#
        ),
        format!(
            r#"{{"type":"task-failed","uuid":"xss-1","exception":{b},"traceback":{a},"hostname":{worker},"timestamp":1800000000.2,"clock":3,"local_received":1800000000.2}}"#
        ),
        format!(
            r#"{{"type":{b},"hostname":{worker},"timestamp":1800000000.3,"clock":4,"local_received":1800000000.3}}"#
        ),
        // Not JSON at all: the relay counts it, and the dashboard says so.
        "<script>not an event".to_owned(),
        // 300 unknown keys: the event keeps 256, its task 64; the dashboard counts the other 236.
        format!(
            r#"{{"type":"task-progress","uuid":"wide-1","hostname":{worker},"timestamp":1800000000.4,"clock":5,"local_received":1800000000.4{}}}"#,
            (0..300)
                .map(|n| format!(r#","k{n}":{n}"#))
                .collect::<String>()
        ),
    ];
    let path = std::env::temp_dir().join(format!("stalk-xss-{}.ndjson", std::process::id()));
    std::fs::write(&path, lines.join("\n") + "\n")?;
    let result = with_page(path.to_str().context("utf-8 path")?, "xss", async |browser, base| {
        let c = &browser.client;
        let pages = ["#/", "#/tasks", "#/events", "#/task/xss-1", "#/tree/xss-1", "#/workers"];
        for page in pages {
            c.goto(&format!("{base}/{page}")).await?;
            browser
                .wait_count(r#"[data-testid="connection"][data-state="open"]"#, 1)
                .await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let injected = c
                .execute(
                    "return [window.__xss === undefined, document.querySelectorAll('main script, main img').length]",
                    vec![],
                )
                .await?;
            ensure!(injected == serde_json::json!([true, 0]), "{page}: {injected}");
        }
        // Read as sent on the task page: the name, the args, the traceback.
        c.goto(&format!("{base}/#/task/xss-1")).await?;
        let detail = find(browser, r#"[data-testid="task-detail"]"#).await?.text().await?;
        ensure!(detail.contains(script) && detail.contains(img), "task page text: {detail}");
        let tb = find(browser, r#"[data-testid="traceback"]"#).await?.text().await?;
        ensure!(tb == script, "traceback: {tb}");
        // The worker page of a hostile hostname, through its link.
        c.goto(&format!("{base}/#/workers")).await?;
        find(browser, r#"[data-testid="worker-row"] a"#).await?.click().await?;
        let w = find(browser, r#"[data-testid="worker-detail"]"#).await?;
        ensure!(
            w.attr("data-hostname").await?.as_deref() == Some(format!("{img}@host").as_str()),
            "worker page"
        );
        let xss = c.execute("return window.__xss === undefined", vec![]).await?;
        ensure!(xss == serde_json::json!(true), "a script ran");
        // The line that was not an event is reported as lost, not hidden (status comes each second).
        c.goto(&format!("{base}/#/")).await?;
        let losses = find(browser, r#"[data-testid="losses"][data-decode-errors="1"]"#).await?;
        let text = losses.text().await?;
        ensure!(text.contains("1 the relay could not decode"), "losses: {text}");
        let part = find(browser, r#"[data-testid="kept-in-part"][data-extras-refused="236"]"#)
            .await?
            .text()
            .await?;
        ensure!(part.contains("236 fields not kept"), "kept in part: {part}");
        // The same refusals in the State's bounds, whose summary names the bound reached.
        find(
            browser,
            r#"[data-testid="bound"][data-name="extra fields per task or worker"][data-len="64"][data-limit="64"][data-reached="236"]"#,
        )
        .await?;
        let summary = find(browser, r#"[data-testid="bounds"] summary"#).await?.text().await?;
        ensure!(
            summary.contains("reached: extra fields per task or worker"),
            "bounds: {summary}"
        );
        Ok(())
    })
    .await;
    let _ = std::fs::remove_file(&path);
    result
}
