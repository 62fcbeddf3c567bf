//! Every entry of a wrapper is judged: the count of samples and rejections
//! `intake check` reports for an archive equals the count of files its
//! central directory lists, as Python's `zipfile` reads it independently
//! (directories left out) — also when names repeat, which the zip crate's
//! own index folds into one.

use std::io::{Cursor, Write};
use std::path::Path;
use std::process::Command;

use base64::Engine;
use zip::ZipWriter;
use zip::unstable::write::FileOptionsExt;
use zip::write::SimpleFileOptions;

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const BODY: &str = "Grant Number: 1\r\nFile List: a\r\nSymptoms: b\r\nDetected: no\r\nMcAfee Product Name: ENS\r\nEngine Version: 1\r\nDAT Version: 2\r\nOperating System: Win\r\n";

/// A ZipCrypto `infected` wrapper of `(name, bytes)`; a name ending in `/`
/// is a directory.
fn wrapper(items: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .with_deprecated_encryption(b"infected")
        .expect("password");
    for (name, data) in items {
        if name.ends_with('/') {
            w.add_directory(*name, SimpleFileOptions::default())
                .expect("dir");
        } else {
            w.start_file(*name, opts).expect("start");
            w.write_all(data).expect("write");
        }
    }
    w.finish().expect("finish").into_inner()
}

/// Every occurrence of the name `from` replaced by `to` (same length): the
/// writer refuses duplicate names, the format does not.
fn renamed(mut zip: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut at = 0;
    while let Some(p) = zip[at..]
        .windows(from.len())
        .position(|w| w == from.as_bytes())
    {
        zip[at + p..at + p + from.len()].copy_from_slice(to.as_bytes());
        at += p + from.len();
    }
    zip
}

fn email(attachments: &[(&str, &[u8])]) -> Vec<u8> {
    let mut m = String::from(
        "From: bob@acme.example\r\nTo: samples@lab.example\r\nSubject: s\r\nMessage-ID: <e@acme.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n",
    );
    m.push_str(BODY);
    for (name, data) in attachments {
        m.push_str(&format!(
            "--B\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64::engine::general_purpose::STANDARD.encode(data)
        ));
    }
    m.push_str("--B--\r\n");
    m.into_bytes()
}

/// Files (not directories) Python's `zipfile` lists in `zip`.
fn python_count(dir: &Path, zip: &[u8]) -> usize {
    let path = dir.join("count.zip");
    std::fs::write(&path, zip).expect("write");
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(sum(1 for i in z.infolist() if not i.is_dir()))",
        ])
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

/// `intake check --json` on an email carrying `attachments`.
fn check(dir: &Path, attachments: &[(&str, &[u8])]) -> serde_json::Value {
    let path = dir.join("m.eml");
    std::fs::write(&path, email(attachments)).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(["check", "--json"])
        .arg(&path)
        .output()
        .expect("intake check");
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// Paths of every sample and rejection, in report order.
fn paths(report: &serde_json::Value) -> Vec<String> {
    ["samples", "rejected"]
        .iter()
        .flat_map(|k| report[k].as_array().cloned().unwrap_or_default())
        .map(|i| i["path"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_entry_with_a_repeated_name_is_a_sample_or_a_rejection() {
    let tmp = tempfile::tempdir().expect("tmp");
    let z = renamed(
        wrapper(&[
            ("dup1.exe", b"MZ one"),
            ("dup2.exe", EICAR),
            ("folder/", b""),
            ("../a.exe", b"echo one"),
            ("a.exe", b"echo two"),
            ("shot.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            ("dup3.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR again"),
        ]),
        "dup2.exe",
        "dup1.exe",
    );
    let z = renamed(z, "dup3.png", "shot.png");
    let listed = python_count(tmp.path(), &z);
    assert_eq!(listed, 6);
    let report = check(tmp.path(), &[("s.zip", &z)]);
    let got = paths(&report);
    assert_eq!(got.len(), listed, "{report:#}");
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "every path is unique: {got:?}");
    assert!(got.contains(&"s.zip/dup1.exe~2".to_owned()), "{got:?}");
    assert!(got.contains(&"s.zip/a.exe~2".to_owned()), "{got:?}");
    assert!(got.contains(&"s.zip/shot.png~2".to_owned()), "{got:?}");
}

#[test]
fn nested_wrappers_and_attachments_with_one_name() {
    let tmp = tempfile::tempdir().expect("tmp");
    let inner = renamed(
        wrapper(&[("x1.exe", b"MZ a"), ("x2.exe", b"MZ b")]),
        "x2.exe",
        "x1.exe",
    );
    assert_eq!(python_count(tmp.path(), &inner), 2);
    let outer = renamed(
        wrapper(&[("in1.zip", &inner), ("in2.zip", &inner)]),
        "in2.zip",
        "in1.zip",
    );
    assert_eq!(python_count(tmp.path(), &outer), 2);
    let other = wrapper(&[("x1.exe", b"MZ c")]);
    let report = check(tmp.path(), &[("s.zip", &outer), ("s.zip", &other)]);
    assert_eq!(
        paths(&report),
        [
            "s.zip/in1.zip/x1.exe",
            "s.zip/in1.zip/x1.exe~2",
            "s.zip/in1.zip~2/x1.exe",
            "s.zip/in1.zip~2/x1.exe~2",
            "s.zip~2/x1.exe",
        ]
    );
}

/// 10,001 entries all named `same`: the directory holds 10,001 entries, so
/// the wrapper passes the entry limit and is refused as a bomb.
#[test]
fn ten_thousand_and_one_entries_of_one_name_are_a_bomb() {
    let tmp = tempfile::tempdir().expect("tmp");
    let names: Vec<String> = (0..10_001).map(|i| format!("{i:05}")).collect();
    let items: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let z = rename_all_numbered(wrapper(&items), 10_001);
    assert_eq!(python_count(tmp.path(), &z), 10_001);
    let report = check(tmp.path(), &[("s.zip", &z)]);
    assert_eq!(
        report["rejected"][0]["reason"], "archive_bomb",
        "{report:#}"
    );
    assert_eq!(report["samples"].as_array().map(Vec::len), Some(0));
}

/// Every five-digit entry name `00000`..`count-1` in `zip` becomes `same_`.
fn rename_all_numbered(mut zip: Vec<u8>, count: usize) -> Vec<u8> {
    // Local headers and directory records both hold the name right after
    // their fixed part; walk the signatures instead of searching for text.
    let mut at = 0;
    let mut renamed = 0;
    while at + 46 <= zip.len() {
        let sig = &zip[at..at + 4];
        let (fixed, name_len_at) = match sig {
            b"PK\x03\x04" => (30, 26),
            b"PK\x01\x02" => (46, 28),
            _ => {
                at += 1;
                continue;
            }
        };
        let name_len = u16::from_le_bytes([zip[at + name_len_at], zip[at + name_len_at + 1]]);
        let name = at + fixed;
        if name_len == 5 && zip[name..name + 5].iter().all(u8::is_ascii_digit) {
            zip[name..name + 5].copy_from_slice(b"same_");
            renamed += 1;
        }
        at = name + 5;
    }
    assert_eq!(renamed, 2 * count);
    zip
}

/// `intake check` applies the configuration's `[limits]`, as the running
/// pipeline does (it used the built-in defaults whatever the file said).
#[test]
fn check_applies_the_configured_limits() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tmp.path().join("intake.toml");
    std::fs::write(&config, "[limits]\nmax_files = 1\n").expect("config");
    let eml = tmp.path().join("m.eml");
    let one = wrapper(&[("a.exe", b"MZ a")]);
    let two = wrapper(&[("b.exe", b"MZ b")]);
    std::fs::write(&eml, email(&[("one.zip", &one), ("two.zip", &two)])).expect("eml");
    let out = Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(["--config"])
        .arg(&config)
        .args(["check", "--json"])
        .arg(&eml)
        .output()
        .expect("intake check");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        report["rejected"][0]["reason"], "too_many_files",
        "{report:#}"
    );
    assert_eq!(report["rejected"][0]["path"], "two.zip");
    assert!(report["rejected"][0]["sha256"].is_null());
}
