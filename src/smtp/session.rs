//! The state of one SMTP or LMTP session and the reply to every command:
//! greeting, `EHLO`/`LHLO` with the extensions we announce, `MAIL` with its
//! `SIZE`, `RCPT` against the addresses intake accepts, `DATA`, `RSET`,
//! `QUIT`, `STARTTLS` when a certificate is configured (after it, the
//! session starts over, RFC 3207 §4.2). Pure: bytes in and out belong to
//! the listener.

use super::command::{Command, CommandError};
use super::{Protocol, Recipients, SessionLimits};
use crate::mail::Delivery;

/// One reply: a code and its lines (more than one for `EHLO`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// The wire form: `250-first`, …, `250 last`.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, l) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{sep}{l}\r\n", self.code).as_bytes());
        }
        out
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }
}

/// What the listener does after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send the reply, read the next command.
    Reply(Reply),
    /// Send the reply (354), then read the message.
    Data(Reply),
    /// Send the reply, then close the connection.
    Close(Reply),
    /// Send the reply (220), then run the TLS handshake and call
    /// [`Session::tls_started`].
    StartTls(Reply),
}

/// How reading the message ended, as the listener saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEnd {
    /// Complete and within limits: the listener stores it, then calls
    /// [`Session::stored`].
    Complete,
    /// More bytes than the announced `SIZE` limit (counted up to the end).
    TooBig,
    /// A line over the limit.
    LineTooLong,
}

/// Everything the session's replies depend on.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub protocol: Protocol,
    pub hostname: String,
    pub accept: Recipients,
    pub limits: SessionLimits,
    /// A certificate is configured: `STARTTLS` is offered.
    pub starttls: bool,
}

/// One session's state.
#[derive(Debug)]
pub struct Session<'a> {
    policy: &'a SessionPolicy,
    client: Option<String>,
    hello: Option<String>,
    from: Option<String>,
    rcpts: Vec<String>,
    errors: u32,
    /// The session runs over TLS.
    tls: bool,
}

impl<'a> Session<'a> {
    pub fn new(policy: &'a SessionPolicy, client: Option<String>) -> Self {
        Session {
            policy,
            client,
            hello: None,
            from: None,
            rcpts: Vec::new(),
            errors: 0,
            tls: false,
        }
    }

    /// The TLS handshake after `STARTTLS` succeeded: everything learnt
    /// before it is forgotten, and the client must say `EHLO` again.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.hello = None;
        self.reset();
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub fn greeting(&self) -> Reply {
        let name = match self.policy.protocol {
            Protocol::Smtp => "ESMTP",
            Protocol::Lmtp => "LMTP",
        };
        Reply::new(220, format!("{} {name} intake ready", self.policy.hostname))
    }

    /// The reply to a line that was over the command length limit.
    pub fn line_too_long(&mut self) -> Step {
        self.error(Reply::new(500, "5.5.2 line too long"))
    }

    /// The reply to `cmd`.
    pub fn command(&mut self, cmd: Result<Command, CommandError>) -> Step {
        let cmd = match cmd {
            Ok(c) => c,
            Err(CommandError::Unrecognised) => {
                return self.error(Reply::new(500, "5.5.1 command unrecognised"));
            }
            Err(CommandError::Syntax(why)) => {
                return self.error(Reply::new(501, format!("5.5.4 {why}")));
            }
            Err(CommandError::Parameter(p)) => {
                return self.error(Reply::new(555, format!("5.5.4 unsupported parameter {p}")));
            }
        };
        let lmtp = self.policy.protocol == Protocol::Lmtp;
        match cmd {
            Command::Hello { host, extended } if !lmtp => {
                self.reset();
                self.hello = Some(host);
                if extended {
                    Step::Reply(self.extensions())
                } else {
                    Step::Reply(Reply::new(250, self.policy.hostname.clone()))
                }
            }
            Command::Lhlo { host } if lmtp => {
                self.reset();
                self.hello = Some(host);
                Step::Reply(self.extensions())
            }
            Command::Hello { .. } => self.error(Reply::new(500, "5.5.1 this is LMTP: use LHLO")),
            Command::Lhlo { .. } => self.error(Reply::new(500, "5.5.1 this is SMTP: use EHLO")),
            Command::Mail { from, size, .. } => {
                if self.hello.is_none() {
                    return self.error(Reply::new(503, "5.5.1 say EHLO first"));
                }
                if self.from.is_some() {
                    return self.error(Reply::new(503, "5.5.1 sender already given"));
                }
                let max = self.policy.limits.max_message_size;
                if size.is_some_and(|s| s > max) {
                    return Step::Reply(Reply::new(
                        552,
                        format!("5.3.4 message size exceeds the limit of {max} bytes"),
                    ));
                }
                self.from = Some(from);
                Step::Reply(Reply::new(250, "2.1.0 sender ok"))
            }
            Command::Rcpt { to } => {
                if self.from.is_none() {
                    return self.error(Reply::new(503, "5.5.1 MAIL first"));
                }
                if self.rcpts.len() >= self.policy.limits.max_recipients {
                    return Step::Reply(Reply::new(452, "4.5.3 too many recipients"));
                }
                if !self.policy.accept.accepts(&to) {
                    return Step::Reply(Reply::new(
                        550,
                        format!("5.1.1 <{to}>: no such mailbox here"),
                    ));
                }
                self.rcpts.push(to);
                Step::Reply(Reply::new(250, "2.1.5 recipient ok"))
            }
            Command::Data => {
                if self.from.is_none() {
                    return self.error(Reply::new(503, "5.5.1 MAIL first"));
                }
                if self.rcpts.is_empty() {
                    return self.error(Reply::new(554, "5.5.1 no valid recipients"));
                }
                Step::Data(Reply::new(354, "end data with <CR><LF>.<CR><LF>"))
            }
            Command::Rset => {
                self.reset();
                Step::Reply(Reply::new(250, "2.0.0 ok"))
            }
            Command::Noop => Step::Reply(Reply::new(250, "2.0.0 ok")),
            Command::Quit => Step::Close(Reply::new(221, "2.0.0 bye")),
            Command::Vrfy => Step::Reply(Reply::new(252, "2.5.0 send some mail, I'll try")),
            Command::Help => Step::Reply(Reply::new(
                214,
                "2.0.0 send samples zipped with the password infected",
            )),
            Command::StartTls if !self.policy.starttls => {
                Step::Reply(Reply::new(454, "4.7.0 TLS not available here"))
            }
            Command::StartTls if self.tls => {
                self.error(Reply::new(503, "5.5.1 TLS is already active"))
            }
            Command::StartTls if self.hello.is_none() => {
                self.error(Reply::new(503, "5.5.1 say EHLO first"))
            }
            Command::StartTls => Step::StartTls(Reply::new(220, "2.0.0 ready to start TLS")),
        }
    }

    /// What the message is about to be stored with.
    pub fn delivery(&self) -> Delivery {
        Delivery {
            mail_from: self.from.clone().unwrap_or_default(),
            rcpt_to: self.rcpts.clone(),
            client: self.client.clone(),
            helo: self.hello.clone(),
        }
    }

    /// The replies after the message was read: one for SMTP, one per
    /// accepted recipient for LMTP. `stored` is the outcome of storing it
    /// durably (only asked for [`DataEnd::Complete`]); a failure there is
    /// temporary, so the sender keeps the message and tries again.
    pub fn data_end(&mut self, end: DataEnd, stored: Result<i64, String>) -> Vec<Reply> {
        let reply = match (end, stored) {
            (DataEnd::TooBig, _) => Reply::new(
                552,
                format!(
                    "5.3.4 message exceeds the limit of {} bytes",
                    self.policy.limits.max_message_size
                ),
            ),
            (DataEnd::LineTooLong, _) => Reply::new(
                500,
                format!(
                    "5.5.6 a line exceeds {} bytes",
                    self.policy.limits.max_line_length
                ),
            ),
            (DataEnd::Complete, Ok(id)) => Reply::new(250, format!("2.0.0 accepted as {id}")),
            (DataEnd::Complete, Err(why)) => Reply::new(
                451,
                format!("4.3.0 cannot store the message now ({why}); try again later"),
            ),
        };
        let n = match self.policy.protocol {
            Protocol::Smtp => 1,
            Protocol::Lmtp => self.rcpts.len().max(1),
        };
        self.reset();
        vec![reply; n]
    }

    fn extensions(&self) -> Reply {
        let mut lines = vec![
            self.policy.hostname.clone(),
            format!("SIZE {}", self.policy.limits.max_message_size),
            "PIPELINING".to_owned(),
            "8BITMIME".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if self.policy.starttls && !self.tls {
            lines.push("STARTTLS".to_owned());
        }
        Reply { code: 250, lines }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    /// Counts a client error; too many and the session ends.
    fn error(&mut self, reply: Reply) -> Step {
        self.errors += 1;
        if self.errors > self.policy.limits.max_errors {
            return Step::Close(Reply::new(421, "4.7.0 too many errors, closing"));
        }
        Step::Reply(reply)
    }
}
