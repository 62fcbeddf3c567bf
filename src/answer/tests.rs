use super::*;
use crate::decide::metadata::{Labels, read_body};
use crate::decide::report::RejectReason;
use crate::mail::SenderAuth;

fn sr() -> SrNumber {
    "SR-2026-000042".parse().expect("sr")
}

fn headers() -> Headers {
    Headers {
        references: vec!["<a@x>".into()],
        ..Headers::default()
    }
}

fn asked<'a>(h: &'a Headers, d: Option<&'a Delivery>, auth: &'a SenderAuth) -> Asked<'a> {
    Asked {
        sender: Some("li.wei@example.cn"),
        message_id: Some("<m1@example.cn>"),
        subject: Some("样本提交"),
        body: "授权号: 8888-2026\n症状: 系统变慢",
        headers: h,
        delivery: d,
        auth,
    }
}

fn to(lang: Lang) -> Correspondent {
    Correspondent {
        to: "bob@acme.example".into(),
        lang,
        message_id: Some("<m1@acme.example>".into()),
        references: vec!["<m0@acme.example>".into(), "<m1@acme.example>".into()],
    }
}

#[test]
fn answers_a_person_threaded_in_their_language() {
    let h = headers();
    let auth = SenderAuth::default();
    let c = correspondent(&asked(&h, None, &auth), |_| false).expect("answered");
    assert_eq!(c.to, "li.wei@example.cn");
    assert_eq!(c.lang, Lang::Zh);
    assert_eq!(c.message_id.as_deref(), Some("<m1@example.cn>"));
    assert_eq!(c.references, vec!["<a@x>", "<m1@example.cn>"]);
}

#[test]
fn never_answers_robots_lists_forgeries_or_ourselves() {
    let auth = SenderAuth::default();
    let null = Delivery::default();
    let h = headers();
    assert_eq!(
        correspondent(&asked(&h, Some(&null), &auth), |_| false),
        Err(Silence::NullSender)
    );
    let real = Delivery {
        mail_from: "li.wei@example.cn".into(),
        ..Delivery::default()
    };
    assert!(correspondent(&asked(&h, Some(&real), &auth), |_| false).is_ok());
    let cases: Vec<(Headers, &str)> = vec![
        (
            Headers {
                auto_submitted: Some("auto-replied".into()),
                ..Headers::default()
            },
            "auto_submitted",
        ),
        (
            Headers {
                precedence: Some("Bulk".into()),
                ..Headers::default()
            },
            "bulk",
        ),
        (
            Headers {
                list_id: true,
                ..Headers::default()
            },
            "mailing_list",
        ),
    ];
    for (h, kind) in cases {
        let got = correspondent(&asked(&h, None, &auth), |_| false);
        assert_eq!(got.map_err(|s| s.kind()), Err(kind));
    }
    let no = Headers {
        auto_submitted: Some("no".into()),
        ..Headers::default()
    };
    assert!(correspondent(&asked(&no, None, &auth), |_| false).is_ok());
    assert_eq!(
        correspondent(&asked(&h, None, &auth), |a| a == "li.wei@example.cn"),
        Err(Silence::OurOwn)
    );
    let forged = SenderAuth {
        dmarc: Some("fail".into()),
        ..SenderAuth::default()
    };
    assert_eq!(
        correspondent(&asked(&h, None, &forged), |_| false).map_err(|s| s.kind()),
        Err("forged")
    );
    for bad in [
        "",
        "no-at-sign",
        "a@b",
        "a b@c.example",
        "x@y.example\r\nBcc: z@w",
    ] {
        let mut m = asked(&h, None, &auth);
        m.sender = Some(bad);
        assert_eq!(
            correspondent(&m, |_| false),
            Err(Silence::NoAddress),
            "{bad:?}"
        );
    }
}

#[test]
fn language_follows_the_message() {
    assert_eq!(
        Lang::of(None, Some("Sample"), "Hello, see attached"),
        Lang::En
    );
    assert_eq!(
        Lang::of(None, Some("样本"), "您好，附件是可疑文件"),
        Lang::Zh
    );
    assert_eq!(Lang::of(Some("zh-CN"), None, "hello"), Lang::Zh);
    assert_eq!(
        Lang::of(Some("en-US"), None, "您好，附件是可疑文件"),
        Lang::En
    );
    // An English message naming one Chinese file stays English.
    assert_eq!(
        Lang::of(
            None,
            None,
            "Please analyse the attached file 发票.exe, found in Downloads"
        ),
        Lang::En
    );
}

fn rejected() -> Vec<RejectedEntry> {
    vec![RejectedEntry {
        path: "screen.png".into(),
        sha256: None,
        size: 10,
        reason: RejectReason::Screenshot,
        detail: String::new(),
    }]
}

fn files() -> Vec<FileLine> {
    vec![FileLine {
        path: "dropper.exe".into(),
        size: 129,
        sha256: Sha256::of(b"x"),
    }]
}

#[test]
fn needs_info_lists_the_missing_fields_and_a_form_intake_reads_back() {
    let missing = [Field::Symptoms, Field::DatVersion, Field::ProductName];
    for lang in [Lang::En, Lang::Zh] {
        let (f, r) = (files(), rejected());
        let n = Notice::Received {
            outcome: Outcome::NeedsInfo,
            held: None,
            samples: &f,
            rejected: &r,
            missing: &missing,
            completed: false,
        };
        let a = compose(&sr(), &to(lang), &n, "McAfee").expect("renders");
        assert_eq!(a.kind, AnswerKind::NeedsInfo);
        assert!(a.subject.starts_with("[SR-2026-000042] "), "{}", a.subject);
        assert_eq!(a.in_reply_to.as_deref(), Some("<m1@acme.example>"));
        assert!(a.body.contains("screen.png"), "{}", a.body);
        // Fill the form in as a customer would, and read it back.
        let filled: String = a
            .body
            .lines()
            .map(|l| {
                if l.ends_with(": ") {
                    format!("{l}filled in\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let meta = read_body(&filled, &Labels::new("McAfee"));
        for f in missing {
            assert_eq!(
                meta.text(f),
                Some("filled in"),
                "{lang:?} {f:?}\n{}",
                a.body
            );
        }
    }
}

#[test]
fn every_answer_renders_in_both_languages() {
    let (f, r) = (files(), rejected());
    let none: &[RejectedEntry] = &[];
    let notices = [
        Notice::Received {
            outcome: Outcome::Accepted,
            held: None,
            samples: &f,
            rejected: &r,
            missing: &[],
            completed: true,
        },
        Notice::Received {
            outcome: Outcome::Rejected,
            held: None,
            samples: &[],
            rejected: &r,
            missing: &[],
            completed: false,
        },
        Notice::Received {
            outcome: Outcome::Rejected,
            held: None,
            samples: &[],
            rejected: none,
            missing: &[],
            completed: false,
        },
        Notice::Received {
            outcome: Outcome::Accepted,
            held: Some("unverified: unknown grant number \"1\"".into()),
            samples: &f,
            rejected: none,
            missing: &[],
            completed: false,
        },
        Notice::Closed {
            note: Some("Fixed in DAT 11000."),
            no_contact: false,
        },
        Notice::Closed {
            note: None,
            no_contact: true,
        },
        Notice::Message {
            text: "Which folder was it in?",
            asks_info: true,
        },
        Notice::Message {
            text: "We are on it.",
            asks_info: false,
        },
        Notice::Detection {
            path: "dropper.exe",
            sha256: Sha256::of(b"x"),
            detection: "Trojan-Test",
            rule_name: "intake_sr_2026_000001_abc",
            rule: "rule x { condition: true }",
            hash_list: "md5:00\n",
        },
        Notice::Verdict {
            path: "dropper.exe",
            sha256: Sha256::of(b"x"),
            verdict: "malicious",
            detection: Some("EICAR-Test-File"),
            note: None,
        },
    ];
    let kinds = [
        AnswerKind::Accepted,
        AnswerKind::Rejected,
        AnswerKind::Rejected,
        AnswerKind::Held,
        AnswerKind::Closed,
        AnswerKind::Closed,
        AnswerKind::InfoRequest,
        AnswerKind::Message,
        AnswerKind::Detection,
        AnswerKind::Verdict,
    ];
    for lang in [Lang::En, Lang::Zh] {
        for (n, kind) in notices.iter().zip(kinds) {
            let a = compose(&sr(), &to(lang), n, "McAfee").expect("renders");
            assert_eq!(a.kind, kind);
            assert!(a.subject.contains("SR-2026-000042"));
            assert!(a.body.contains("SR-2026-000042"), "{}", a.body);
            assert!(
                !a.body.contains("{{") && !a.body.contains("{%"),
                "{}",
                a.body
            );
            assert!(!a.body.contains("\n\n\n"), "{lang:?} {kind:?}:\n{}", a.body);
        }
    }
    let a = compose(&sr(), &to(Lang::En), &notices[0], "McAfee").expect("renders");
    assert!(a.body.contains("dropper.exe (129 bytes"), "{}", a.body);
    assert!(a.body.contains("it is a screenshot"), "{}", a.body);
}

/// A message of thousands of files gets an answer of a few kilobytes: the
/// first files by name, then how many more.
#[test]
fn long_lists_are_cut_with_a_count() {
    let files: Vec<FileLine> = (0..3000)
        .map(|i| FileLine {
            path: format!("s.zip/f{i}.exe"),
            size: 1,
            sha256: crate::digest::Sha256::of(format!("{i}").as_bytes()),
        })
        .collect();
    let refused: Vec<RejectedEntry> = (0..5000)
        .map(|i| RejectedEntry {
            path: format!("shot{i}.png"),
            sha256: None,
            size: 1,
            reason: RejectReason::Screenshot,
            detail: String::new(),
        })
        .collect();
    for lang in [Lang::En, Lang::Zh] {
        let n = Notice::Received {
            outcome: Outcome::Accepted,
            held: None,
            samples: &files,
            rejected: &refused,
            missing: &[],
            completed: false,
        };
        let a = compose(&sr(), &to(lang), &n, "McAfee").expect("renders");
        assert!(a.body.len() < 20_000, "{} bytes", a.body.len());
        assert!(a.body.contains("3000"), "{}", a.body);
        assert!(a.body.contains(&format!("{}", 3000 - LISTED)), "{}", a.body);
        assert!(a.body.contains(&format!("{}", 5000 - LISTED)), "{}", a.body);
        assert!(a.body.contains("s.zip/f49.exe") && !a.body.contains("s.zip/f50.exe"));
    }
}

/// Every answer's Reply-To carries the SR's reply token, so a reply to it
/// proves it answers our message.
#[test]
fn answers_carry_the_reply_token() {
    let cfg = AnswerConfig {
        from: "samples@lab.example".into(),
        ..AnswerConfig::default()
    };
    let n = Notice::Closed {
        note: None,
        no_contact: false,
    };
    let a = compose(&sr(), &to(Lang::En), &n, "McAfee").expect("renders");
    let m = crate::store::mailer::build(7, &a, &cfg).expect("builds");
    let text = String::from_utf8(m.formatted()).expect("utf-8");
    let reply_to = cfg.reply_key.reply_to(&cfg.from, &sr());
    assert!(text.contains(&format!("Reply-To: {reply_to}")), "{text}");
    assert_eq!(
        cfg.reply_key.check([reply_to.as_str()]),
        crate::mail::token::TokenCheck::Valid(sr())
    );
}
