//! Snapshot tests of the terminal monitor (`--print-events`) on real recordings, in the raw AMQP
//! form the relay consumes: the crawler chain, retry then failure, reject, revokes. Times are shown
//! in UTC so the snapshots do not depend on the machine's zone.

use std::path::Path;

use chrono::FixedOffset;
use stalk_relay::decode::decode;
use stalk_relay::printer::{Format, Printer, Zone};
use stalk_state::Limits;

/// Feeds a raw recording (`seq`, `recv`, `body` per line) through the relay's decoder and the
/// printer, as the relay does, and returns everything printed.
fn print(recording: &str, format: Format) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{recording}.raw.ndjson"));
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut printer = Printer::new(
        format,
        Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
        Limits::default(),
    );
    let mut out = String::new();
    let mut seq = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let msg: serde_json::Value = serde_json::from_str(line).expect("recording line");
        let body = serde_json::to_vec(&msg["body"]).unwrap();
        let received = msg["recv"].as_f64().expect("recv");
        for event in decode(&body, Some("application/json"), 1 << 20).events {
            seq += 1;
            out.push_str(&printer.event(seq, event.raw.get().as_bytes(), received));
        }
    }
    out
}

#[test]
fn crawler_chains() {
    insta::assert_snapshot!(print("happy", Format::Line));
}

#[test]
fn crawler_chains_verbose() {
    insta::assert_snapshot!(print("happy", Format::Verbose));
}

#[test]
fn retry_then_fail() {
    insta::assert_snapshot!(print("retry_fail", Format::Line));
}

#[test]
fn retry_then_fail_verbose() {
    insta::assert_snapshot!(print("retry_fail", Format::Verbose));
}

#[test]
fn reject() {
    insta::assert_snapshot!(print("reject", Format::Line));
}

#[test]
fn revoked_expired_and_terminated() {
    let out = print("revoke_expired", Format::Line) + &print("revoke_terminate", Format::Line);
    insta::assert_snapshot!(out);
}

#[test]
fn canvas_as_json_lines() {
    let out = print("canvas", Format::Json);
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        assert!(
            v["seq"].is_u64() && v["event"]["type"].is_string(),
            "{line}"
        );
        assert!(v.get("task").or(v.get("worker")).is_some(), "{line}");
    }
    insta::assert_snapshot!(out);
}

#[test]
fn the_story_ends_as_python_says() {
    // The last line of each task is its final merged state: the retried visit fails, the rejected
    // one ends FAILURE (task-failed then task-rejected), the revoked ones REVOKED.
    let retry = print("retry_fail", Format::Line);
    assert!(
        retry
            .lines()
            .filter(|l| l.contains("TASK-FAILED example_app.tasks.visit"))
            .all(|l| l.contains("STATE=FAILURE"))
    );
    assert_eq!(
        retry
            .matches("TASK-RETRIED example_app.tasks.visit")
            .count(),
        3
    );
    let reject = print("reject", Format::Line);
    assert!(
        reject.contains("TASK-REJECTED example_app.tasks.visit (STATE=FAILURE"),
        "{reject}"
    );
    let revoked = print("revoke_terminate", Format::Line);
    assert!(
        revoked.contains("TASK-REVOKED example_app.tasks.sleepy (STATE=REVOKED"),
        "{revoked}"
    );
}

#[test]
fn the_binary_prints_the_same_story_without_serving() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reject.raw.ndjson");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stalk-relay"))
        .args([
            "--replay-speed",
            "0",
            "--print-events",
            "--no-serve",
            "--utc",
            "--replay",
        ])
        .arg(&fixture)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start stalk-relay");
    let expect = print("reject", Format::Line);
    let want = expect.lines().count();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(want)
        {
            let _ = tx.send(line);
        }
    });
    let mut got = String::new();
    for _ in 0..want {
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) => got.push_str(&(line + "\n")),
            Err(_) => break, // fewer lines than expected: the assertion below shows them
        }
    }
    child.kill().ok();
    child.wait().ok();
    assert_eq!(got, expect);
}
