//! Smoke test of the bench itself (seconds, not minutes): 2 s at a low rate against the real
//! RabbitMQ on 127.0.0.1:5672, zero loss for the bare consumer, and for the relay when its binary
//! was built beside this one (`cargo build -p stalk-relay`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_stalk-bench"))
        .arg("run")
        .args(["--rate", "500", "--seconds", "2", "--drain-seconds", "5"])
        .args(args)
        .output()
        .expect("run stalk-bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON report")
}

fn assert_zero_loss(report: &Value) {
    let published = report["published"]["events"].as_u64().unwrap();
    assert!(published >= 900, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    for r in report["received"].as_array().unwrap() {
        assert_eq!(r.as_u64(), Some(published), "{report}");
    }
}

#[test]
fn bare_consumer_gets_everything() {
    assert_zero_loss(&run(&["--bare"]));
}

#[test]
fn relay_clients_get_everything() {
    // The relay is another package's binary, so cargo does not build it for this package's
    // tests; `cargo test` at the root (the relay is a default member) and `./stalk test` do.
    let relay = Path::new(env!("CARGO_BIN_EXE_stalk-bench")).with_file_name("stalk-relay");
    assert!(
        relay.exists(),
        "{} is not built: run `cargo build -p stalk-relay` first",
        relay.display()
    );
    let report = run(&["--clients", "2"]);
    assert_zero_loss(&report);
    assert!(
        report["latency"]["p99_ms"].as_f64().unwrap() < 1000.0,
        "{report}"
    );
    assert!(
        report["relay_peak_rss_mib"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}
