//! The demo corpus in `samples/` against its checked-in reports: every email
//! and portal upload goes through the real `intake check --json` binary and
//! must produce exactly the golden JSON in `samples/expected/`. Set
//! `INTAKE_BLESS=1` to rewrite the goldens after a deliberate change, then
//! review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(input: &Path, channel: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(["check", "--json", "--channel", channel])
        .arg(input)
        .output()
        .expect("run intake");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn inputs(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("samples").join(dir))
        .expect("samples dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn compare(input: &Path, channel: &str) -> Option<String> {
    let (code, stdout, stderr) = check(input, channel);
    if code != 0 {
        return Some(format!("{}: exit {code}: {stderr}", input.display()));
    }
    let got: serde_json::Value = match serde_json::from_str(&stdout) {
        Ok(v) => v,
        Err(e) => {
            return Some(format!(
                "{}: stdout is not one JSON object: {e}",
                input.display()
            ));
        }
    };
    let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
    let golden = root()
        .join("samples/expected")
        .join(channel)
        .join(format!("{stem}.json"));
    if std::env::var_os("INTAKE_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().expect("parent")).expect("mkdir");
        let pretty = serde_json::to_string_pretty(&got).expect("json") + "\n";
        std::fs::write(&golden, pretty).expect("write golden");
        return None;
    }
    let want: serde_json::Value = match std::fs::read(&golden) {
        Ok(b) => serde_json::from_slice(&b).expect("golden is JSON"),
        Err(e) => return Some(format!("{}: {e}", golden.display())),
    };
    (got != want).then(|| {
        format!(
            "{} differs from {}:\n got: {}\nwant: {}",
            input.display(),
            golden.display(),
            serde_json::to_string_pretty(&got).unwrap_or_default(),
            serde_json::to_string_pretty(&want).unwrap_or_default()
        )
    })
}

#[test]
fn email_corpus_matches_golden_reports() {
    let failures: Vec<String> = inputs("email")
        .iter()
        .filter_map(|p| compare(p, "email"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn portal_corpus_matches_golden_reports() {
    let failures: Vec<String> = inputs("portal")
        .iter()
        .filter_map(|p| compare(p, "portal"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn corpus_covers_every_reject_reason_and_outcome() {
    let mut reasons = std::collections::BTreeSet::new();
    let mut outcomes = std::collections::BTreeSet::new();
    for (dir, channel) in [("email", "email"), ("portal", "portal")] {
        for p in inputs(dir) {
            let (_, stdout, _) = check(&p, channel);
            let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
            outcomes.insert(v["outcome"].as_str().unwrap_or("").to_owned());
            for r in v["rejected"].as_array().into_iter().flatten() {
                reasons.insert(r["reason"].as_str().unwrap_or("").to_owned());
            }
        }
    }
    // too_large needs a 64 MiB file; decide's unit tests cover it with a small limit.
    for want in [
        "empty",
        "screenshot",
        "av_log",
        "hijackthis_log",
        "prefetch",
        "not_archived",
        "not_encrypted",
        "wrong_password",
        "corrupt_archive",
        "archive_bomb",
        "not_a_file",
        "too_deep",
    ] {
        assert!(
            reasons.contains(want),
            "no sample shows {want}: {reasons:?}"
        );
    }
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
}

#[test]
fn unusable_arguments_exit_2() {
    let bin = env!("CARGO_BIN_EXE_intake");
    let missing = Command::new(bin)
        .args(["check", "--json", "/nonexistent/x.eml"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(missing.stdout.is_empty());
    let bad_channel = Command::new(bin)
        .args(["check", "--channel", "fax", "x.eml"])
        .output()
        .expect("run");
    assert_eq!(bad_channel.status.code(), Some(2));
    let dir_as_email = Command::new(bin)
        .args(["check", "--json"])
        .arg(root().join("samples"))
        .output()
        .expect("run");
    assert_eq!(dir_as_email.status.code(), Some(2));
    let file_as_portal = Command::new(bin)
        .args(["check", "--json", "--channel", "portal"])
        .arg(root().join("Cargo.toml"))
        .output()
        .expect("run");
    assert_eq!(file_as_portal.status.code(), Some(2));
    let no_args = Command::new(bin).arg("check").output().expect("run");
    assert_eq!(no_args.status.code(), Some(2));
}

#[test]
fn garbage_input_still_gets_a_report() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, bytes) in [
        ("empty.eml", &b""[..]),
        ("binary.eml", &[0u8, 159, 146, 150, 255, 0, 1][..]),
        ("nohead.eml", &b"just text, no headers at all"[..]),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        let (code, stdout, _) = check(&p, "email");
        assert_eq!(code, 0, "{name}");
        let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
        assert_eq!(v["outcome"], "rejected", "{name}");
        assert_eq!(v["metadata"].as_object().map(|m| m.len()), Some(14));
    }
}
