use super::*;

fn msg(headers_and_body: &str) -> Vec<u8> {
    headers_and_body.replace('\n', "\r\n").into_bytes()
}

#[test]
fn headers_and_plain_body() {
    let raw = msg(
        "From: \"Bob\" <Bob@ACME.example>\nMessage-ID: <x1@acme>\nSubject: =?utf-8?b?5qC35pys?=\n\nGrant Number: 5\n",
    );
    let env = parse(&raw);
    assert_eq!(env.message_id.as_deref(), Some("<x1@acme>"));
    assert_eq!(env.sender.as_deref(), Some("Bob@ACME.example"));
    assert_eq!(env.subject.as_deref(), Some("样本"));
    assert!(env.body.contains("Grant Number: 5"));
    assert!(env.attachments.is_empty());
}

#[test]
fn gbk_and_big5_bodies_decode() {
    // "授权号：1" in GBK, quoted-printable.
    let raw = msg(
        "From: a@b\nContent-Type: text/plain; charset=gbk\nContent-Transfer-Encoding: quoted-printable\n\n=CA=DA=C8=A8=BA=C5=A3=BA1\n",
    );
    assert!(
        parse(&raw).body.contains("授权号：1"),
        "{:?}",
        parse(&raw).body
    );
    // "症狀" in Big5, base64, as HTML.
    let raw = msg(
        "From: a@b\nContent-Type: text/html; charset=big5\nContent-Transfer-Encoding: base64\n\nPHA+r2eqrKFHc2xvdzwvcD4=\n",
    );
    let body = parse(&raw).body;
    assert!(body.contains("症狀：slow"), "{body:?}");
}

#[test]
fn rfc2231_and_rfc2047_file_names() {
    let raw = msg(
        "From: a@b\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nhi\n--B\nContent-Type: application/zip\nContent-Disposition: attachment; filename*=utf-8''%E6%A0%B7%E6%9C%AC.zip\nContent-Transfer-Encoding: base64\n\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\n--B\nContent-Type: application/zip; name=\"=?utf-8?b?55eF5q+SLnppcA==?=\"\nContent-Transfer-Encoding: base64\n\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\n--B--\n",
    );
    let env = parse(&raw);
    let names: Vec<Option<&str>> = env.attachments.iter().map(|a| a.name.as_deref()).collect();
    assert_eq!(names, [Some("样本.zip"), Some("病毒.zip")]);
    assert!(env.attachments[0].bytes.starts_with(b"PK\x05\x06"));
}

#[test]
fn forwarded_messages_contribute_attachments_and_body() {
    let raw = msg(
        "From: a@b\nContent-Type: multipart/mixed; boundary=OUT\n\n--OUT\nContent-Type: text/plain\n\nsee forwarded\n--OUT\nContent-Type: message/rfc822\n\nFrom: c@d\nContent-Type: multipart/mixed; boundary=IN\n\n--IN\nContent-Type: text/plain\n\nOperating System: Windows 7\n--IN\nContent-Type: application/octet-stream; name=inner.zip\nContent-Transfer-Encoding: base64\n\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\n--IN--\n\n--OUT--\n",
    );
    let env = parse(&raw);
    assert_eq!(env.attachments.len(), 1);
    assert_eq!(env.attachments[0].name.as_deref(), Some("inner.zip"));
    assert!(env.body.starts_with("see forwarded"));
    assert!(env.body.contains("Operating System: Windows 7"));
}

#[test]
fn text_attachments_keep_their_original_bytes() {
    // A GBK text file attached as text/plain: the sample is the GBK bytes,
    // not mail-parser's UTF-8 conversion of them.
    let raw = msg(
        "From: a@b\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nbody\n--B\nContent-Type: text/plain; charset=gbk; name=log.txt\nContent-Disposition: attachment; filename=log.txt\nContent-Transfer-Encoding: base64\n\nyv2+3Q==\n--B--\n",
    );
    let env = parse(&raw);
    assert_eq!(env.attachments.len(), 1);
    assert_eq!(&env.attachments[0].bytes[..], b"\xca\xfd\xbe\xdd");
}

#[test]
fn html_only_mail_and_tables() {
    let raw = msg(
        "From: a@b\nContent-Type: text/html; charset=utf-8\n\n<table><tr><td>Grant Number</td><td>77</td></tr></table>\n",
    );
    let body = parse(&raw).body;
    let m = crate::decide::metadata::read_body(&body, &crate::decide::metadata::Labels::default());
    assert_eq!(m.grant_number.as_deref(), Some("77"), "{body:?}");
}

#[test]
fn broken_and_empty_input_never_panics() {
    assert!(parse(b"").attachments.is_empty());
    let _ = parse(b"\r\n\r\n");
    let _ = parse(b"Content-Type: multipart/mixed; boundary=\"\n\n--\n--\n");
    let huge = format!("Subject: {}\r\n\r\nx", "a".repeat(2 << 20));
    let _ = parse(huge.as_bytes());
    let deep: String = (0..500)
        .map(|i| format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"))
        .collect();
    let _ = parse(deep.as_bytes());
}

#[test]
fn html_to_text_survives_hostile_markup() {
    let nested = "<div>".repeat(50_000) + "Grant Number: 9";
    assert!(html_to_text(&nested).contains("Grant Number: 9"));
    assert_eq!(
        nesting_depth("<p>a<br>b<img src=x/></p><div><b>c</b></div>"),
        2
    );
    assert!(html_to_text("<p>a &lt;b&gt;</p>").contains("a <b>"));
}
