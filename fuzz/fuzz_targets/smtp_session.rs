//! Whole SMTP and LMTP sessions on arbitrary bytes: the command parser,
//! the session state and the DATA reader, driven the way the listener
//! drives them (a line at a time, then the message in pieces), with the
//! invariants the listener relies on checked.
#![no_main]

use intake::smtp::command::parse;
use intake::smtp::data::DataReader;
use intake::smtp::session::{DataEnd, Step};
use intake::smtp::{Protocol, Session, SmtpConfig};
use libfuzzer_sys::fuzz_target;

const MAX_COMMAND: usize = 2048;

fuzz_target!(|input: &[u8]| {
    let Some((&first, stream)) = input.split_first() else {
        return;
    };
    let cfg = SmtpConfig {
        accept: vec!["samples@lab.example".into()],
        max_message_size: 4096,
        max_line_length: 256,
        ..SmtpConfig::default()
    };
    let protocol = if first & 1 == 0 { Protocol::Smtp } else { Protocol::Lmtp };
    let mut policy = cfg.policy(protocol);
    policy.starttls = first & 2 != 0;
    // Pieces of this size model the socket's reads.
    let piece = usize::from(first >> 2).max(1);
    let mut s = Session::new(&policy, Some("127.0.0.1:1".into()));
    let mut at = 0;
    while at < stream.len() {
        let rest = &stream[at..];
        let (line, used) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        at += used;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let step = if line.len() > MAX_COMMAND {
            s.line_too_long()
        } else {
            s.command(parse(line))
        };
        match step {
            Step::Reply(r) => assert!(r.code >= 200 && r.code < 600),
            Step::Close(_) => return,
            Step::StartTls(r) => {
                assert!(policy.starttls && r.code == 220);
                s.tls_started();
            }
            Step::Data(r) => {
                assert_eq!(r.code, 354);
                let mut data = DataReader::new(4096, 256);
                let mut done = false;
                while at < stream.len() && !done {
                    let end = (at + piece).min(stream.len());
                    let (used, finished) = data.feed(&stream[at..end]);
                    assert!(used <= end - at);
                    at += used;
                    done = finished;
                }
                if !done {
                    return;
                }
                // Only CRLF . CRLF ends the data.
                assert!(stream[..at].ends_with(b"\r\n.\r\n") || stream[..at].ends_with(b".\r\n"));
                let (end, raw) = data.finish();
                if end == DataEnd::Complete {
                    assert!(raw.len() <= 4096);
                }
                let replies = s.data_end(end, Ok(1));
                assert!(!replies.is_empty());
            }
        }
    }
});
