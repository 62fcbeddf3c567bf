use super::command::{Body, Command, CommandError, parse};
use super::data::DataReader;
use super::session::{DataEnd, Reply, Session, SessionPolicy, Step};
use super::{Protocol, SmtpConfig};

fn policy(protocol: Protocol) -> SessionPolicy {
    let cfg = SmtpConfig {
        accept: vec!["samples@lab.example".into(), "@virus.lab.example".into()],
        max_message_size: 1000,
        max_recipients: 2,
        max_errors: 3,
        ..SmtpConfig::default()
    };
    cfg.policy(protocol)
}

fn code(step: Step) -> u16 {
    match step {
        Step::Reply(r) | Step::Data(r) | Step::Close(r) | Step::StartTls(r) => r.code,
    }
}

fn run(s: &mut Session<'_>, line: &str) -> u16 {
    code(s.command(parse(line.as_bytes())))
}

#[test]
fn parses_commands_as_clients_write_them() {
    assert_eq!(
        parse(b"EHLO client.example"),
        Ok(Command::Hello {
            host: "client.example".into(),
            extended: true
        })
    );
    assert_eq!(
        parse(b"mail from:<a@b.example> SIZE=1234 BODY=8BITMIME"),
        Ok(Command::Mail {
            from: "a@b.example".into(),
            size: Some(1234),
            body: Body::EightBitMime
        })
    );
    assert_eq!(
        parse(b"MAIL FROM: <>"),
        Ok(Command::Mail {
            from: String::new(),
            size: None,
            body: Body::SevenBit
        })
    );
    assert_eq!(
        parse(b"RCPT TO:<@relay.example:samples@lab.example>"),
        Ok(Command::Rcpt {
            to: "samples@lab.example".into()
        })
    );
    assert_eq!(
        parse(b"RCPT TO:samples@lab.example"),
        Ok(Command::Rcpt {
            to: "samples@lab.example".into()
        })
    );
    assert_eq!(parse(b"data"), Ok(Command::Data));
    assert_eq!(parse(b"NOOP anything"), Ok(Command::Noop));
    assert_eq!(parse(b"XYZZY"), Err(CommandError::Unrecognised));
    assert_eq!(parse(b""), Err(CommandError::Unrecognised));
    assert!(matches!(parse(b"MAIL <a@b>"), Err(CommandError::Syntax(_))));
    assert!(matches!(
        parse(b"MAIL FROM:<a@b> SIZE=big"),
        Err(CommandError::Syntax(_))
    ));
    assert!(matches!(
        parse(b"MAIL FROM:<a@b> AUTH=<>"),
        Err(CommandError::Parameter(_))
    ));
    assert!(matches!(parse(b"RCPT TO:<>"), Err(CommandError::Syntax(_))));
    assert!(matches!(
        parse(b"RCPT TO:<a b@c>"),
        Err(CommandError::Syntax(_))
    ));
    assert!(matches!(
        parse(b"RCPT TO:<nodomain>"),
        Err(CommandError::Syntax(_))
    ));
    assert!(matches!(parse(b"EHLO"), Err(CommandError::Syntax(_))));
    assert!(matches!(
        parse(b"MAIL FROM:<\xff@x>"),
        Err(CommandError::Syntax(_))
    ));
    let long = format!("RCPT TO:<{}@x.example>", "a".repeat(300));
    assert!(matches!(
        parse(long.as_bytes()),
        Err(CommandError::Syntax(_))
    ));
}

#[test]
fn a_whole_smtp_transaction() {
    let mut p = policy(Protocol::Smtp);
    p.limits.max_errors = 10;
    let mut s = Session::new(&p, Some("192.0.2.1:4000".into()));
    assert_eq!(s.greeting().code, 220);
    assert_eq!(run(&mut s, "MAIL FROM:<a@b.example>"), 503, "EHLO first");
    let ehlo = s.command(parse(b"EHLO client.example"));
    let Step::Reply(r) = ehlo else {
        panic!("{ehlo:?}")
    };
    let wire = String::from_utf8(r.to_wire()).expect("ascii");
    assert!(wire.starts_with("250-intake.localhost\r\n"), "{wire}");
    for ext in [
        "250-SIZE 1000\r\n",
        "250-PIPELINING\r\n",
        "250-8BITMIME\r\n",
    ] {
        assert!(wire.contains(ext), "{wire}");
    }
    assert!(wire.ends_with("250 ENHANCEDSTATUSCODES\r\n"), "{wire}");
    assert_eq!(
        run(&mut s, "RCPT TO:<samples@lab.example>"),
        503,
        "MAIL first"
    );
    assert_eq!(run(&mut s, "DATA"), 503);
    assert_eq!(run(&mut s, "MAIL FROM:<a@b.example> SIZE=1001"), 552);
    assert_eq!(run(&mut s, "MAIL FROM:<a@b.example> SIZE=1000"), 250);
    assert_eq!(run(&mut s, "MAIL FROM:<a@b.example>"), 503, "sender twice");
    assert_eq!(run(&mut s, "DATA"), 554, "no recipients yet");
    assert_eq!(run(&mut s, "RCPT TO:<someone@else.example>"), 550);
    assert_eq!(run(&mut s, "RCPT TO:<Samples+Urgent@LAB.example>"), 250);
    assert_eq!(run(&mut s, "RCPT TO:<anything@virus.lab.example>"), 250);
    assert_eq!(
        run(&mut s, "RCPT TO:<samples@lab.example>"),
        452,
        "limit of 2"
    );
    assert_eq!(run(&mut s, "DATA"), 354);
    let d = s.delivery();
    assert_eq!(d.mail_from, "a@b.example");
    assert_eq!(d.rcpt_to.len(), 2);
    assert_eq!(d.helo.as_deref(), Some("client.example"));
    let replies = s.data_end(DataEnd::Complete, Ok(7));
    assert_eq!(replies, vec![Reply::new(250, "2.0.0 accepted as 7")]);
    // The transaction is over: a new one needs MAIL again.
    assert_eq!(run(&mut s, "RCPT TO:<samples@lab.example>"), 503);
    assert_eq!(run(&mut s, "STARTTLS"), 454);
    assert_eq!(run(&mut s, "LHLO x"), 500);
    assert_eq!(code(s.command(parse(b"QUIT"))), 221);
}

#[test]
fn refusals_after_data_and_temporary_failures() {
    let p = policy(Protocol::Smtp);
    let mut s = Session::new(&p, None);
    run(&mut s, "EHLO x");
    run(&mut s, "MAIL FROM:<>");
    assert!(s.delivery().is_null_sender());
    run(&mut s, "RCPT TO:<samples@lab.example>");
    assert_eq!(s.data_end(DataEnd::TooBig, Err(String::new()))[0].code, 552);
    run(&mut s, "MAIL FROM:<a@b.example>");
    run(&mut s, "RCPT TO:<samples@lab.example>");
    assert_eq!(
        s.data_end(DataEnd::LineTooLong, Err(String::new()))[0].code,
        500
    );
    run(&mut s, "MAIL FROM:<a@b.example>");
    run(&mut s, "RCPT TO:<samples@lab.example>");
    assert_eq!(
        s.data_end(DataEnd::Complete, Err("db down".into()))[0].code,
        451
    );
}

#[test]
fn lmtp_answers_once_per_recipient() {
    let p = policy(Protocol::Lmtp);
    let mut s = Session::new(&p, None);
    assert!(s.greeting().lines[0].contains("LMTP"));
    assert_eq!(run(&mut s, "EHLO x"), 500);
    assert_eq!(run(&mut s, "LHLO mta.lab.example"), 250);
    run(&mut s, "MAIL FROM:<a@b.example>");
    run(&mut s, "RCPT TO:<samples@lab.example>");
    run(&mut s, "RCPT TO:<x@virus.lab.example>");
    let replies = s.data_end(DataEnd::Complete, Ok(1));
    assert_eq!(replies.len(), 2);
    assert!(replies.iter().all(|r| r.code == 250));
}

#[test]
fn too_many_errors_close_the_session() {
    let p = policy(Protocol::Smtp);
    let mut s = Session::new(&p, None);
    for _ in 0..3 {
        assert_eq!(run(&mut s, "BOGUS"), 500);
    }
    let last = s.command(parse(b"BOGUS"));
    assert!(
        matches!(last, Step::Close(Reply { code: 421, .. })),
        "{last:?}"
    );
    let mut s = Session::new(&p, None);
    assert_eq!(code(s.line_too_long()), 500);
}

#[test]
fn data_is_unstuffed_and_counted() {
    let mut d = DataReader::new(100, 1000);
    let stream = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
    let (used, done) = d.feed(stream);
    assert!(done);
    assert_eq!(
        &stream[used..],
        b"QUIT\r\n",
        "the next command is left alone"
    );
    let (end, raw) = d.finish();
    assert_eq!(end, DataEnd::Complete);
    assert_eq!(raw, b"Subject: x\r\n\r\n.leading dot\r\n");

    let mut d = DataReader::new(10, 1000);
    assert_eq!(d.feed(b"0123456789abc\r\n"), (15, false));
    assert!(!d.feed(b".\n").1, "a bare LF end marker is data");
    assert!(
        !d.feed(b".\r\n").1,
        "a line after a bare LF is no line start"
    );
    assert!(d.feed(b".\r\n").1);
    assert_eq!(d.finish().0, DataEnd::TooBig);

    let mut d = DataReader::new(100, 10);
    assert!(!d.feed(b"01234567890123\r\n").1);
    assert!(d.feed(b".\r\n").1);
    assert_eq!(d.finish().0, DataEnd::LineTooLong);
}

/// The SMTP smuggling session: after a bare-LF "end of data" come commands
/// that a lax server would run as a second message. Only `CRLF.CRLF` ends the
/// data, so all of it is one message and nothing follows it.
#[test]
fn bare_lf_or_cr_never_ends_data() {
    let smuggled = b"first\n.\nMAIL FROM:<evil@evil.test>\r\nRCPT TO:<samples@lab.example>\r\nDATA\r\nforged\r\n.\r\n";
    let mut d = DataReader::new(10_000, 1000);
    let (used, done) = d.feed(smuggled);
    assert!(done);
    assert_eq!(used, smuggled.len(), "nothing is left to run as commands");
    let (end, raw) = d.finish();
    assert_eq!(end, DataEnd::Complete);
    assert_eq!(
        raw,
        b"first\n.\nMAIL FROM:<evil@evil.test>\r\nRCPT TO:<samples@lab.example>\r\nDATA\r\nforged\r\n"
    );
    // A bare CR around the dot is data too.
    for stream in [
        &b"a\r\n.\rMAIL FROM:<e@e>\r\n.\r\n"[..],
        b"a\r.\r\nb\r\n.\r\n",
    ] {
        let mut d = DataReader::new(10_000, 1000);
        let (used, done) = d.feed(stream);
        assert!(done && used == stream.len(), "{stream:?}");
    }
    // A CRLF split over two reads after an over-long line still counts.
    let mut d = DataReader::new(10_000, 4);
    assert!(!d.feed(b"0123456789\r").1);
    assert!(!d.feed(b"\n").1);
    assert!(d.feed(b".\r\n").1);
}

/// Reads `stream` fed in pieces cut at `cuts`: the message, where the next
/// command starts, and how it ended.
fn fed_in_pieces(
    stream: &[u8],
    cuts: &[usize],
    max_size: u64,
    max_line: usize,
) -> (DataEnd, Vec<u8>, Option<usize>) {
    let mut d = DataReader::new(max_size, max_line);
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.push(0);
    bounds.push(stream.len());
    bounds.sort_unstable();
    bounds.dedup();
    let mut next = None;
    for w in bounds.windows(2) {
        let (used, done) = d.feed(&stream[w[0]..w[1]]);
        if done {
            next = Some(w[0] + used);
            break;
        }
    }
    let (end, raw) = d.finish();
    (end, raw, next)
}

proptest::proptest! {
    /// However the socket cuts the stream, the message read is the same as
    /// read in one piece, and ends at the same byte.
    #[test]
    fn any_split_reads_the_same(
        lines in proptest::collection::vec("(\\.{0,2})[a-z. ]{0,30}(\r\n|\n)", 0..40),
        cuts in proptest::collection::vec(0usize..2000, 0..12),
        max_line in 5usize..40,
    ) {
        let mut stream: Vec<u8> = lines.concat().into_bytes();
        stream.extend_from_slice(b".\r\nMAIL FROM:<a@b>\r\n");
        let whole = fed_in_pieces(&stream, &[], 300, max_line);
        let pieces = fed_in_pieces(&stream, &cuts, 300, max_line);
        proptest::prop_assert_eq!(&whole, &pieces);
        // Byte by byte too.
        let every: Vec<usize> = (0..stream.len()).collect();
        proptest::prop_assert_eq!(&whole, &fed_in_pieces(&stream, &every, 300, max_line));
    }
}

/// STARTTLS is announced and taken only with a certificate configured;
/// after the handshake the session starts over and is not offered again.
#[test]
fn starttls_only_when_configured_and_the_session_starts_over() {
    let plain = policy(Protocol::Smtp);
    let mut s = Session::new(&plain, None);
    let ehlo = s.command(parse(b"EHLO c.example"));
    assert!(!format!("{ehlo:?}").contains("STARTTLS"));
    assert_eq!(run(&mut s, "STARTTLS"), 454);

    let mut tls = policy(Protocol::Smtp);
    tls.starttls = true;
    let mut s = Session::new(&tls, None);
    assert_eq!(run(&mut s, "STARTTLS"), 503, "EHLO first");
    let ehlo = s.command(parse(b"EHLO c.example"));
    assert!(format!("{ehlo:?}").contains("STARTTLS"));
    assert_eq!(run(&mut s, "MAIL FROM:<a@b.example>"), 250);
    assert!(matches!(
        s.command(parse(b"STARTTLS")),
        Step::StartTls(Reply { code: 220, .. })
    ));
    s.tls_started();
    assert!(s.is_tls());
    // The sender given before TLS is forgotten, and so is EHLO.
    assert_eq!(run(&mut s, "MAIL FROM:<a@b.example>"), 503);
    let ehlo = s.command(parse(b"EHLO c.example"));
    assert!(!format!("{ehlo:?}").contains("STARTTLS"));
    assert_eq!(run(&mut s, "STARTTLS"), 503, "TLS already active");
}
