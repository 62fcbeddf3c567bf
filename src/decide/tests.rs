use std::sync::Mutex;

use zip::AesMode;

use super::*;
use crate::fixture::{EICAR, Item, Lock, email, renamed, wrapper, zip};
use crate::mail;

const BODY: &str = "Grant Number: 1\r\nFile List: a\r\nSymptoms: b\r\nDetected: no\r\nMcAfee Product Name: ENS\r\nEngine Version: 1\r\nDAT Version: 2\r\nOperating System: Win\r\n";
const PE: &[u8] = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0";

fn decide_email(raw: &[u8], policy: &Policy) -> Report {
    let env = mail::parse(raw);
    let input = env.into_input(&policy.labels);
    decide(&input, policy, &Discard).expect("discard never fails")
}

fn check(attachments: &[(&str, &[u8])]) -> Report {
    decide_email(&email(BODY, attachments), &Policy::default())
}

fn reasons(r: &Report) -> Vec<(&str, RejectReason)> {
    r.rejected
        .iter()
        .map(|x| (x.path.as_str(), x.reason))
        .collect()
}

#[test]
fn a_good_submission_is_accepted() {
    let r = check(&[(
        "s.zip",
        &wrapper(&[
            Item::File("dropper.exe", PE),
            Item::File("eicar.com", EICAR),
        ]),
    )]);
    assert_eq!(r.outcome, Outcome::Accepted);
    let paths: Vec<&str> = r.samples.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["s.zip/dropper.exe", "s.zip/eicar.com"]);
    assert_eq!(r.samples[0].kind, Kind::Pe);
    assert_eq!(r.samples[1].sha256, Sha256::of(EICAR));
    assert_eq!(r.message_id.as_deref(), Some("<t1@acme.example>"));
    assert_eq!(r.sender.as_deref(), Some("bob@acme.example"));
}

#[test]
fn missing_metadata_means_needs_info() {
    let raw = email(
        "Grant Number: 1\r\n",
        &[("s.zip", &wrapper(&[Item::File("a.exe", PE)]))],
    );
    let r = decide_email(&raw, &Policy::default());
    assert_eq!(r.outcome, Outcome::NeedsInfo);
    assert_eq!(r.missing_fields.first().map(|f| f.key()), Some("file_list"));
}

#[test]
fn email_transport_rules() {
    let r = check(&[
        ("a.exe", PE),
        ("plain.zip", &zip(&[Item::File("a.exe", PE)], Lock::None)),
        (
            "aes-wrong.zip",
            &zip(
                &[Item::File("a.exe", PE)],
                Lock::Aes(AesMode::Aes256, "virus"),
            ),
        ),
        ("broken.zip", b"PK\x03\x04\0\0\0\0"),
    ]);
    assert_eq!(r.outcome, Outcome::Rejected);
    assert_eq!(
        reasons(&r),
        [
            ("a.exe", RejectReason::NotArchived),
            ("plain.zip", RejectReason::NotEncrypted),
            ("aes-wrong.zip", RejectReason::WrongPassword),
            ("broken.zip", RejectReason::CorruptArchive),
        ]
    );
}

#[test]
fn what_a_file_is_outranks_how_it_was_sent() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
    let r = check(&[("shot.png", png), ("empty.exe", b"")]);
    assert_eq!(
        reasons(&r),
        [
            ("shot.png", RejectReason::Screenshot),
            ("empty.exe", RejectReason::Empty)
        ]
    );
}

#[test]
fn zipcrypto_check_byte_false_positive_is_a_wrong_password() {
    // Find a password whose ZipCrypto check byte "infected" also satisfies
    // (about 1 in 256): the header check passes, the CRC must catch it.
    let data = vec![b'x'; 5000];
    let fooled = (0..20_000u32).find_map(|i| {
        let pw = format!("pw{i}");
        let z = zip(
            &[Item::File("a.txt", &data)],
            Lock::ZipCrypto(pw.as_bytes()),
        );
        matches!(unpack::probe(&z, &[unpack::PASSWORD]), Probe::Wrapper(_)).then_some(z)
    });
    let z = fooled.expect("some password passes the check byte");
    let r = check(&[("w.zip", &z)]);
    assert_eq!(reasons(&r), [("w.zip", RejectReason::WrongPassword)]);
    assert!(r.samples.is_empty());
}

#[test]
fn damaged_entry_next_to_good_ones_is_corrupt_not_wrong_password() {
    let good = vec![b'g'; 3000];
    let bad = vec![b'b'; 3000];
    let mut z = wrapper(&[Item::File("good.txt", &good), Item::File("bad.txt", &bad)]);
    // Damage the second entry's data: find its local header and flip a byte inside.
    let second = z
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x03\x04")
        .nth(1)
        .map(|(i, _)| i)
        .expect("two entries");
    z[second + 30 + 7 + 20] ^= 0x55;
    let r = check(&[("w.zip", &z)]);
    assert_eq!(r.samples.len(), 1);
    assert_eq!(r.samples[0].path, "w.zip/good.txt");
    assert_eq!(
        reasons(&r),
        [("w.zip/bad.txt", RejectReason::CorruptArchive)]
    );
    assert_eq!(r.rejected[0].sha256, None);
}

#[test]
fn nesting_depth_limit() {
    let d4 = wrapper(&[Item::File("d4.exe", PE)]);
    let d3 = wrapper(&[Item::File("d3.exe", PE), Item::File("d4.zip", &d4)]);
    let d2 = wrapper(&[Item::File("d3.zip", &d3)]);
    let d1 = wrapper(&[Item::File("d2.zip", &d2)]);
    let r = check(&[("d1.zip", &d1)]);
    assert_eq!(r.samples.len(), 1);
    assert_eq!(r.samples[0].path, "d1.zip/d2.zip/d3.zip/d3.exe");
    assert_eq!(
        reasons(&r),
        [("d1.zip/d2.zip/d3.zip/d4.zip", RejectReason::TooDeep)]
    );
    assert_eq!(r.rejected[0].sha256, Some(Sha256::of(&d4)));
}

#[test]
fn specimens_inside_wrappers_are_kept_whole() {
    let inner_plain = zip(&[Item::File("x.exe", PE)], Lock::None);
    let r = check(&[(
        "w.zip",
        &wrapper(&[
            Item::File("inner.zip", &inner_plain),
            Item::File("a.7z", b"7z\xbc\xaf\x27\x1c\0\x04rest"),
        ]),
    )]);
    let kinds: Vec<Kind> = r.samples.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [Kind::Archive, Kind::Archive]);
    assert_eq!(r.samples[0].sha256, Sha256::of(&inner_plain));
}

#[test]
fn entry_count_and_total_limits_refuse_the_archive() {
    let items: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("f{i}.exe"), PE.to_vec()))
        .collect();
    let refs: Vec<Item<'_>> = items.iter().map(|(n, d)| Item::File(n, d)).collect();
    let w = wrapper(&refs);
    let policy = Policy {
        limits: Limits {
            max_entries: 10,
            ..Limits::default()
        },
        ..Policy::default()
    };
    let r = decide_email(&email(BODY, &[("many.zip", &w)]), &policy);
    assert_eq!(reasons(&r), [("many.zip", RejectReason::ArchiveBomb)]);

    let policy = Policy {
        limits: Limits {
            max_total: 100,
            ..Limits::default()
        },
        ..Policy::default()
    };
    let small = wrapper(&[Item::File("s.exe", PE)]);
    let r = decide_email(
        &email(BODY, &[("many.zip", &w), ("small.zip", &small)]),
        &policy,
    );
    // The big one is refused; its bytes no longer count, so the small one passes.
    assert_eq!(reasons(&r), [("many.zip", RejectReason::ArchiveBomb)]);
    assert_eq!(r.samples.len(), 1);
}

#[test]
fn oversized_entry_is_too_large_unless_it_is_something_unwanted() {
    let big: Vec<u8> = std::iter::once(b"MZ".to_vec())
        .flatten()
        .chain((0..5000u32).flat_map(|i| i.to_le_bytes()))
        .collect();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..5000u32).flat_map(|i| i.to_be_bytes()));
    let policy = Policy {
        limits: Limits {
            max_file: 1000,
            ..Limits::default()
        },
        ..Policy::default()
    };
    let raw = email(
        BODY,
        &[(
            "w.zip",
            &wrapper(&[Item::File("big.exe", &big), Item::File("big.png", &png)]),
        )],
    );
    let r = decide_email(&raw, &policy);
    assert_eq!(
        reasons(&r),
        [
            ("w.zip/big.exe", RejectReason::TooLarge),
            ("w.zip/big.png", RejectReason::Screenshot)
        ]
    );
    assert!(r.rejected.iter().all(|x| x.sha256.is_none()));
}

#[test]
fn portal_takes_specimens_without_a_zip() {
    let input = Input {
        channel: Channel::Portal,
        message_id: None,
        sender: None,
        attachments: vec![
            Attachment::new(Some("a.exe".into()), PE),
            Attachment::new(
                Some("p.zip".into()),
                zip(&[Item::File("x", PE)], Lock::None),
            ),
            Attachment::new(Some("w.zip".into()), wrapper(&[Item::File("y.exe", PE)])),
        ],
        metadata: Metadata::default(),
        passwords: Vec::new(),
    };
    let r = decide(&input, &Policy::default(), &Discard).expect("discard");
    let paths: Vec<&str> = r.samples.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["a.exe", "p.zip", "w.zip/y.exe"]);
    assert_eq!(r.outcome, Outcome::NeedsInfo);
}

#[test]
fn attachment_paths_lose_the_senders_folders() {
    let r = check(&[(
        "C:\\\\Users\\\\bob\\\\s.zip",
        &wrapper(&[Item::File("../x.exe", PE)]),
    )]);
    assert_eq!(r.samples[0].path, "s.zip/x.exe");
    assert!(r.samples[0].warnings[0].contains("../x.exe"));
}

#[test]
fn name_type_mismatch_is_a_warning() {
    let r = check(&[("w.zip", &wrapper(&[Item::File("invoice.pdf", PE)]))]);
    assert!(
        r.samples[0]
            .warnings
            .iter()
            .any(|w| w.contains(".pdf") && w.contains("pe"))
    );
}

#[test]
fn keep_sees_every_judged_file_and_its_failure_stops_the_decision() {
    struct Spy(Mutex<Vec<Sha256>>);
    impl Keep for Spy {
        fn keep(&self, d: &Sha256, _: &[u8]) -> std::io::Result<()> {
            if let Ok(mut v) = self.0.lock() {
                v.push(*d);
            }
            Ok(())
        }
    }
    struct Full;
    impl Keep for Full {
        fn keep(&self, _: &Sha256, _: &[u8]) -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        }
    }
    let raw = email(
        BODY,
        &[(
            "w.zip",
            &wrapper(&[
                Item::File("a.exe", PE),
                Item::File("b.png", b"\x89PNG\r\n\x1a\nxxxx"),
            ]),
        )],
    );
    let env = mail::parse(&raw);
    let input = Input {
        channel: Channel::Email,
        message_id: None,
        sender: None,
        metadata: Metadata::default(),
        attachments: env.attachments,
        passwords: Vec::new(),
    };
    let spy = Spy(Mutex::new(Vec::new()));
    let r = decide(&input, &Policy::default(), &spy).expect("ok");
    let mut kept = spy.0.into_inner().unwrap_or_default();
    kept.sort();
    let mut want = vec![
        r.samples[0].sha256,
        r.rejected[0].sha256.unwrap_or(Sha256::of(b"")),
    ];
    want.sort();
    assert_eq!(kept, want);
    assert!(decide(&input, &Policy::default(), &Full).is_err());
}

#[test]
fn an_inner_zip_with_another_password_is_a_specimen_with_a_warning() {
    let inner = zip(
        &[Item::File("x.exe", PE)],
        Lock::Aes(AesMode::Aes256, "s3cret"),
    );
    let r = check(&[("w.zip", &wrapper(&[Item::File("locked.zip", &inner)]))]);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    assert_eq!(r.samples.len(), 1);
    assert_eq!(r.samples[0].path, "w.zip/locked.zip");
    assert_eq!(r.samples[0].kind, Kind::Archive);
    assert_eq!(r.samples[0].sha256, Sha256::of(&inner));
    assert_eq!(r.samples[0].warnings, [LOCKED_WARNING]);
}

#[test]
fn passwords_the_customer_gives_open_zips_and_are_never_reported() {
    let outer = zip(&[Item::File("a.exe", PE)], Lock::ZipCrypto(b"hunter2"));
    let inner = zip(
        &[Item::File("b.com", EICAR)],
        Lock::Aes(AesMode::Aes128, "s3cret"),
    );
    let nested = wrapper(&[Item::File("inner.zip", &inner)]);
    let body = format!("{BODY}Archive Password: hunter2, s3cret\r\n");
    let raw = email(&body, &[("mine.zip", &outer), ("w.zip", &nested)]);
    let r = decide_email(&raw, &Policy::default());
    let got: Vec<(&str, &[String])> = r
        .samples
        .iter()
        .map(|s| (s.path.as_str(), s.warnings.as_slice()))
        .collect();
    let given = [GIVEN_PASSWORD_WARNING.to_owned()];
    assert_eq!(
        got,
        [
            ("mine.zip/a.exe", &given[..]),
            ("w.zip/inner.zip/b.com", &given[..])
        ]
    );
    assert_eq!(r.outcome, Outcome::Accepted);
    let json = serde_json::to_string(&r).unwrap_or_default();
    assert!(
        !json.contains("hunter2") && !json.contains("s3cret"),
        "{json}"
    );
    // Without the line, the attached zip is a wrong password again.
    let r = decide_email(&email(BODY, &[("mine.zip", &outer)]), &Policy::default());
    assert_eq!(reasons(&r), [("mine.zip", RejectReason::WrongPassword)]);
}

#[test]
fn chinese_password_line_and_portal_passwords() {
    let outer = zip(&[Item::File("a.exe", PE)], Lock::ZipCrypto(b"mima"));
    let body = format!("{BODY}解压密码：mima\r\n");
    let r = decide_email(&email(&body, &[("m.zip", &outer)]), &Policy::default());
    assert_eq!(r.samples.len(), 1);
    let input = Input {
        channel: Channel::Portal,
        message_id: None,
        sender: None,
        attachments: vec![Attachment::new(Some("m.zip".into()), outer)],
        metadata: Metadata::default(),
        passwords: Metadata::passwords_from_json(br#"{"passwords": ["nope", "mima"]}"#),
    };
    let r = decide(&input, &Policy::default(), &Discard).expect("discard");
    assert_eq!(r.samples.len(), 1);
    assert_eq!(r.samples[0].warnings, [GIVEN_PASSWORD_WARNING]);
    // Which of the customer's passwords opened it is kept aside, by its
    // place in their list, and stays out of the report.
    assert_eq!(
        r.opened_with,
        [crate::decide::report::Opened {
            path: "m.zip".into(),
            password: 1
        }]
    );
    assert!(
        !serde_json::to_string(&r)
            .unwrap_or_default()
            .contains("opened_with")
    );
}

fn paths(r: &Report) -> Vec<&str> {
    r.samples
        .iter()
        .map(|s| s.path.as_str())
        .chain(r.rejected.iter().map(|x| x.path.as_str()))
        .collect()
}

/// Two entries called `dup.exe` with different content: both are samples,
/// the later one suffixed. (The zip crate keys entries by name and showed
/// only one.) The same in a nested wrapper, and for two attachments.
#[test]
fn entries_with_one_name_are_all_judged() {
    let z = renamed(
        wrapper(&[
            Item::File("dup1.exe", PE),
            Item::File("dup2.exe", EICAR),
            Item::Dir("dir1/"),
            Item::File("../a.exe", b"echo one"),
            Item::File("a.exe", b"echo two"),
        ]),
        "dup2.exe",
        "dup1.exe",
    );
    let r = check(&[("s.zip", &z)]);
    assert_eq!(
        paths(&r),
        [
            "s.zip/dup1.exe",
            "s.zip/dup1.exe~2",
            "s.zip/a.exe",
            "s.zip/a.exe~2"
        ]
    );
    assert_eq!(r.samples[0].sha256, Sha256::of(PE));
    assert_eq!(r.samples[1].sha256, Sha256::of(EICAR));
    assert!(
        r.samples[1]
            .warnings
            .iter()
            .any(|w| w.contains("also named"))
    );

    let inner = renamed(
        wrapper(&[Item::File("x1.exe", PE), Item::File("x2.exe", EICAR)]),
        "x2.exe",
        "x1.exe",
    );
    let outer = renamed(
        wrapper(&[Item::File("in1.zip", &inner), Item::File("in2.zip", &inner)]),
        "in2.zip",
        "in1.zip",
    );
    let r = check(&[
        ("s.zip", &outer),
        ("s.zip", &wrapper(&[Item::File("x1.exe", PE)])),
    ]);
    assert_eq!(
        paths(&r),
        [
            "s.zip/in1.zip/x1.exe",
            "s.zip/in1.zip/x1.exe~2",
            "s.zip/in1.zip~2/x1.exe",
            "s.zip/in1.zip~2/x1.exe~2",
            "s.zip~2/x1.exe",
        ]
    );
}

/// 10,001 entries of one name are 10,001 entries: past the limit, the
/// wrapper is a bomb, however the names repeat.
#[test]
fn repeated_names_do_not_slip_past_the_entry_limit() {
    let names: Vec<String> = (0..11).map(|i| format!("f{i:04}")).collect();
    let items: Vec<Item<'_>> = names.iter().map(|n| Item::File(n, b"x")).collect();
    let mut z = wrapper(&items);
    for n in &names[1..] {
        z = renamed(z, n, &names[0]);
    }
    let policy = Policy {
        limits: Limits {
            max_entries: 10,
            ..Limits::default()
        },
        ..Policy::default()
    };
    let r = decide_email(&email(BODY, &[("s.zip", &z)]), &policy);
    assert_eq!(reasons(&r), [("s.zip", RejectReason::ArchiveBomb)]);
}

/// A name ending in `/` with data behind it is read like a file: nothing
/// hides behind a trailing slash.
#[test]
fn a_directory_with_data_is_a_file() {
    let z = renamed(
        wrapper(&[Item::File("hide", EICAR), Item::File("keep.exe", PE)]),
        "hide",
        "hid/",
    );
    let r = check(&[("s.zip", &z)]);
    assert_eq!(paths(&r), ["s.zip/hid", "s.zip/keep.exe"]);
}

/// More attachments than the per-input limit: the first are judged, one
/// rejection stands for the rest, named after the first not read.
#[test]
fn files_past_the_limit_are_one_rejection() {
    let policy = Policy {
        limits: Limits {
            max_files: 3,
            ..Limits::default()
        },
        ..Policy::default()
    };
    let shot = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let z = wrapper(&[Item::File("a.exe", PE)]);
    let attachments: Vec<(String, &[u8])> = (0..10)
        .map(|i| {
            if i == 0 {
                ("s.zip".to_owned(), &z[..])
            } else {
                (format!("shot{i}.png"), &shot[..])
            }
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = attachments.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    let r = decide_email(&email(BODY, &refs), &policy);
    assert_eq!(r.samples.len(), 1);
    assert_eq!(
        reasons(&r),
        [
            ("shot1.png", RejectReason::Screenshot),
            ("shot2.png", RejectReason::Screenshot),
            ("shot3.png", RejectReason::TooManyFiles),
        ]
    );
    let last = &r.rejected[2];
    assert_eq!(last.sha256, None);
    assert!(last.detail.contains("7 were not read"), "{}", last.detail);
}
