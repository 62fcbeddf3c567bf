//! Reading one RFC 5322 message into what the decision needs: Message-ID,
//! sender, subject, the body as text (HTML turned into text) and every
//! attachment, including those inside forwarded `message/rfc822` parts.
//! `mail-parser` does the MIME work (charsets, RFC 2047/2231 names, transfer
//! encodings); this module only chooses what to take from it.

mod auth;
pub mod away;
mod recipients;
#[cfg(test)]
mod tests;
pub mod token;

pub use auth::SenderAuth;
pub use recipients::Recipients;

use std::borrow::Cow;

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::decide::metadata::{Labels, read_body, read_passwords};
use crate::decide::report::Channel;
use crate::decide::{Attachment, Input};

/// Longest HTML body turned into text; beyond it the rest is ignored (the
/// facts come first in every template).
const HTML_MAX: usize = 2 << 20;

/// Deepest forwarded message whose attachments are taken.
const FORWARD_DEPTH: u32 = 8;

/// A parsed message, borrowing from the raw bytes where it can.
#[derive(Debug, Default)]
pub struct Envelope<'a> {
    /// With angle brackets, as in the header.
    pub message_id: Option<String>,
    /// The From address.
    pub sender: Option<String>,
    pub subject: Option<String>,
    /// The readable body: the message's own text first, then forwarded ones.
    pub body: String,
    pub attachments: Vec<Attachment<'a>>,
    pub headers: Headers,
}

/// The headers that say how to answer a message (or not to answer it) and
/// what the receiving MTA found out about its sender.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Headers {
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    /// A mailing list's message (`List-Id` present).
    pub list_id: bool,
    /// With angle brackets.
    pub in_reply_to: Option<String>,
    /// With angle brackets, oldest first.
    pub references: Vec<String>,
    pub content_language: Option<String>,
    /// Every `Authentication-Results` header, unfolded.
    pub authentication_results: Vec<String>,
    /// The addresses of `To` and `Cc` (where a reply token may stand when
    /// there is no envelope).
    pub recipients: Vec<String>,
}

/// Whether a message that names an SR proves it comes from the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyProof {
    /// Sent to the reply address of one of our answers about that SR.
    Token,
    /// A trusted MTA's SPF, DKIM or DMARC pass aligned with the From domain.
    Authenticated,
    /// Neither: why not.
    Unproven(String),
}

/// How a message reached intake: the SMTP envelope, where there was one
/// (`ingest-eml` from an MTA pipe passes it on the command line).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// `MAIL FROM`; empty for the null sender of bounces and auto-replies.
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The client's address, `ip:port`.
    pub client: Option<String>,
    /// What the client called itself in `EHLO`/`LHLO`.
    pub helo: Option<String>,
}

impl Delivery {
    pub fn is_null_sender(&self) -> bool {
        self.mail_from.trim().is_empty()
    }
}

impl<'a> Envelope<'a> {
    /// The decision's input: the attachments, and the facts read from the
    /// body with `labels`. The subject stays with the caller (it threads SRs).
    pub fn into_input(self, labels: &Labels) -> Input<'a> {
        Input {
            channel: Channel::Email,
            metadata: read_body(&self.body, labels),
            passwords: read_passwords(&self.body),
            message_id: self.message_id,
            sender: self.sender,
            attachments: self.attachments,
        }
    }
}

/// Parses `raw`. Never fails: a message mail-parser cannot make sense of
/// yields an empty envelope, which the decision then rejects for want of
/// samples.
pub fn parse(raw: &[u8]) -> Envelope<'_> {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Envelope::default();
    };
    let mut env = Envelope {
        message_id: msg.message_id().map(|id| format!("<{id}>")),
        sender: msg
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(|s| s.trim().to_owned()),
        subject: msg.subject().map(str::to_owned),
        headers: headers(&msg),
        ..Envelope::default()
    };
    collect(&msg, &mut env, FORWARD_DEPTH);
    env.attachments = take_attachments(msg, FORWARD_DEPTH);
    env
}

fn headers(msg: &Message<'_>) -> Headers {
    let ids = |v: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        v.as_text_list()
            .unwrap_or_default()
            .iter()
            .map(|id| format!("<{}>", id.trim()))
            .collect()
    };
    let addresses = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address())
                .map(|x| x.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
    };
    let mut recipients = addresses(msg.to());
    recipients.extend(addresses(msg.cc()));
    let mut h = Headers {
        in_reply_to: ids(msg.in_reply_to()).pop(),
        references: ids(msg.references()),
        recipients,
        ..Headers::default()
    };
    for (name, value) in msg.headers_raw() {
        let value = unfold(value);
        match name.to_ascii_lowercase().as_str() {
            "auto-submitted" => h.auto_submitted = Some(value),
            "precedence" => h.precedence = Some(value),
            "list-id" => h.list_id = true,
            "content-language" => h.content_language = Some(value),
            "authentication-results" => h.authentication_results.push(value),
            _ => {}
        }
    }
    h
}

/// A raw header value on one line, trimmed.
fn unfold(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The Message-ID of `raw` (with angle brackets), reading headers only.
pub fn message_id(raw: &[u8]) -> Option<String> {
    let msg = MessageParser::default().parse_headers(raw)?;
    msg.message_id()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| format!("<{id}>"))
}

/// Appends the body text of `msg` and of the messages forwarded inside it.
fn collect(msg: &Message<'_>, env: &mut Envelope<'_>, depth: u32) {
    for part in msg.text_bodies() {
        push_text(&mut env.body, part);
    }
    if msg.text_body.is_empty() {
        for part in msg.html_bodies() {
            push_text(&mut env.body, part);
        }
    }
    if depth == 0 {
        return;
    }
    for part in msg.attachments() {
        if let PartType::Message(inner) = &part.body {
            collect(inner, env, depth - 1);
        }
    }
}

fn push_text(out: &mut String, part: &MessagePart<'_>) {
    let text = match &part.body {
        PartType::Text(t) => Cow::Borrowed(t.as_ref()),
        PartType::Html(h) => Cow::Owned(html_to_text(h)),
        _ => return,
    };
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&text);
}

/// HTML as plain lines, tables kept as `│`-separated rows so that a template
/// sent as a table still reads as `Label│value`.
pub fn html_to_text(html: &str) -> String {
    let mut end = html.len().min(HTML_MAX);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let input = &html[..end];
    // html2text's layout grows faster than linearly with nesting; deep markup
    // (only ever hostile) gets mail-parser's plain tag stripper instead.
    if nesting_depth(input) > MAX_NESTING {
        return mail_parser::decoders::html::html_to_text(input);
    }
    // html2text is third-party code over hostile input: a panic in it must
    // cost the body, not the submission.
    std::panic::catch_unwind(|| {
        html2text::config::plain_no_decorate()
            .allow_width_overflow()
            .string_from_read(input.as_bytes(), 10_000)
            .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// Deepest tag nesting handed to html2text.
const MAX_NESTING: usize = 200;

/// A rough upper bound of tag nesting: opening tags minus closing tags, with
/// void and self-closing tags ignored. Linear, allocation-free.
fn nesting_depth(html: &str) -> usize {
    const VOID: [&str; 10] = [
        "br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr",
    ];
    let b = html.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        i += off + 1;
        match b.get(i) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(c) if c.is_ascii_alphabetic() => {
                let name_len = b[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                let name = html[i..i + name_len].to_ascii_lowercase();
                let close = b[i..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map_or(b.len(), |p| i + p);
                let self_closing = close > 0 && b.get(close - 1) == Some(&b'/');
                if !VOID.contains(&name.as_str()) && !self_closing {
                    depth += 1;
                    max = max.max(depth);
                }
            }
            _ => {}
        }
    }
    max
}

/// Every attachment of `msg` in order; a forwarded message contributes its own
/// attachments in its place.
fn take_attachments<'x>(mut msg: Message<'x>, depth: u32) -> Vec<Attachment<'x>> {
    let ids = std::mem::take(&mut msg.attachments);
    let raw = std::mem::take(&mut msg.raw_message);
    let mut out = Vec::new();
    let mut parts = msg.parts;
    for id in ids {
        let Some(part) = parts.get_mut(id as usize) else {
            continue;
        };
        let name = part.attachment_name().map(str::to_owned);
        let body = std::mem::take(&mut part.body);
        match body {
            PartType::Message(inner) if depth > 0 => {
                out.extend(take_attachments(inner, depth - 1));
            }
            PartType::Message(inner) => {
                out.push(Attachment::new(name, inner.raw_message.into_owned()));
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                out.push(Attachment::new(name, b));
            }
            PartType::Text(_) | PartType::Html(_) => {
                // mail-parser converted the charset; the sample is the bytes
                // as sent, so transfer-decode the raw part again.
                let bytes = original_bytes(&raw, part);
                out.push(Attachment::new(name, bytes));
            }
            PartType::Multipart(_) => {}
        }
    }
    out
}

/// The transfer-decoded bytes of a text part, before any charset conversion.
fn original_bytes(raw: &[u8], part: &MessagePart<'_>) -> Vec<u8> {
    let start = part.offset_body as usize;
    let end = (part.offset_end as usize).min(raw.len());
    let body = raw.get(start..end).unwrap_or_default();
    let decoded = match part.encoding {
        mail_parser::Encoding::Base64 => mail_parser::decoders::base64::base64_decode(body),
        mail_parser::Encoding::QuotedPrintable => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
        }
        mail_parser::Encoding::None => None,
    };
    decoded.unwrap_or_else(|| body.to_vec())
}
