//! `liveform load`, the real binary, for two seconds against its built-in server: every upload
//! answered, none lost or stored twice, and the figures printed as JSON.

use std::process::Command;

#[test]
fn load_command_runs_and_checks_its_uploads() {
    let out = Command::new(env!("CARGO_BIN_EXE_liveform"))
        .args([
            "load",
            "--concurrency",
            "4",
            "--duration",
            "2",
            "--frame",
            "small",
            "--json",
        ])
        .output()
        .expect("liveform load runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert!(report["ok"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["ok"], report["started"], "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert_eq!(report["lost"], 0);
    assert_eq!(report["duplicated"], 0);
    assert_eq!(report["checkedBy"], "database");
    for p in ["p50", "p95", "p99", "max"] {
        assert!(report["latencyMs"][p].as_f64().unwrap() > 0.0, "{report}");
    }

    // Bad arguments are a usage error, not a panic.
    let bad = Command::new(env!("CARGO_BIN_EXE_liveform"))
        .args(["load", "--concurrency", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--concurrency"));
}
