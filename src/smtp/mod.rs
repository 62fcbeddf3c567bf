//! The mail listeners: SMTP for customers' mail servers and LMTP for an MTA
//! (Postfix, say) that delivers to intake. One session state machine serves
//! both; the message is stored (raw blob + inbound row) before the `250`, so
//! a crash after it loses nothing and a crash before it makes the sending MTA
//! try again. Deciding and recording happen after the reply.
//!
//! Stages, one file each: [`command`] (a line → a command), [`session`]
//! (state and replies), [`data`] (the message body), [`listener`] (sockets,
//! limits on connections and time).

pub mod command;
pub mod data;
pub mod listener;
pub mod session;
#[cfg(test)]
mod tests;

use serde::Deserialize;

pub use crate::mail::Recipients;
pub use listener::serve;
pub use session::{Reply, Session, SessionPolicy, Step};

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    Lmtp,
}

/// Settings of both listeners.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// SMTP listener address; empty disables it.
    pub smtp_listen: String,
    /// LMTP listener address; empty disables it.
    pub lmtp_listen: String,
    /// The name in the greeting and `EHLO` reply.
    pub hostname: String,
    /// Addresses mail is accepted for; `@domain` accepts the whole domain.
    /// `+tags` are ignored (`samples+urgent@` is `samples@`).
    pub accept: Vec<String>,
    /// Largest message, announced with `SIZE` and enforced while reading.
    pub max_message_size: u64,
    pub max_recipients: usize,
    /// Longest line of a message (RFC 5321 says 1,000; real mail breaks it,
    /// so the default is lenient; a command line is limited to 2,048).
    pub max_line_length: usize,
    /// Sessions at once; the next one is told `421` and to come back.
    pub max_connections: usize,
    /// Client errors before the session is closed.
    pub max_errors: u32,
    /// Seconds to wait for a command (RFC 5321 §4.5.3.2: at least 5 minutes).
    pub command_timeout_secs: u64,
    /// Seconds to wait for each block of message data.
    pub data_timeout_secs: u64,
    /// Longest a whole session may last, in seconds.
    pub session_timeout_secs: u64,
    /// `authserv-id`s of the MTAs in front of intake whose
    /// `Authentication-Results` are believed; empty believes none.
    pub trusted_authserv_ids: Vec<String>,
    /// PEM certificate chain for STARTTLS; with `tls_key`, STARTTLS is
    /// offered. Both files are read again when they change.
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for STARTTLS.
    pub tls_key: Option<std::path::PathBuf>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            smtp_listen: "127.0.0.1:2525".to_owned(),
            lmtp_listen: "127.0.0.1:2424".to_owned(),
            hostname: "intake.localhost".to_owned(),
            accept: vec!["samples@localhost".to_owned()],
            max_message_size: 64 << 20,
            max_recipients: 50,
            max_line_length: 64 << 10,
            max_connections: 200,
            max_errors: 10,
            command_timeout_secs: 300,
            data_timeout_secs: 180,
            session_timeout_secs: 3600,
            trusted_authserv_ids: Vec::new(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl SmtpConfig {
    /// The session rules for `protocol`.
    pub fn policy(&self, protocol: Protocol) -> SessionPolicy {
        SessionPolicy {
            protocol,
            hostname: self.hostname.clone(),
            accept: Recipients::new(&self.accept),
            starttls: self.tls_cert.is_some() && self.tls_key.is_some(),
            limits: SessionLimits {
                max_message_size: self.max_message_size,
                max_recipients: self.max_recipients,
                max_line_length: self.max_line_length,
                max_errors: self.max_errors,
            },
        }
    }
}

/// The limits a session enforces itself (time and connections are the
/// listener's).
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub max_line_length: usize,
    pub max_errors: u32,
}
