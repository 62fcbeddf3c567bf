//! Sender checks an upstream MTA already made, read from its
//! `Authentication-Results` header (RFC 8601). intake does not check SPF or
//! DKIM itself: the MTA in front of it sees the connection, intake sees only
//! what it forwards. Only headers from the configured `authserv-id`s are
//! believed when any are configured; a sender can write such a header too.

use serde::{Deserialize, Serialize};

/// The results recorded with a submission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderAuth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authserv_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dmarc: Option<String>,
}

impl SenderAuth {
    /// From the message's `Authentication-Results` headers, top-most first:
    /// the first from a `trusted` server, or the top-most when none is set.
    pub fn from_headers(results: &[String], trusted: &[String]) -> SenderAuth {
        results
            .iter()
            .map(|h| parse(h))
            .find(|a| {
                trusted.is_empty()
                    || a.authserv_id
                        .as_deref()
                        .is_some_and(|id| trusted.iter().any(|t| t.eq_ignore_ascii_case(id)))
            })
            .unwrap_or_default()
    }

    /// A definite failure that marks the From address as forged.
    pub fn failed(&self) -> Option<String> {
        for (method, result) in [("spf", &self.spf), ("dmarc", &self.dmarc)] {
            if result.as_deref() == Some("fail") {
                return Some(format!("{method}=fail"));
            }
        }
        None
    }
}

/// One header: `authserv-id [version]; method=result props; ...`.
fn parse(header: &str) -> SenderAuth {
    let text = strip_comments(header);
    let mut parts = text.split(';');
    let id = parts
        .next()
        .and_then(|p| p.split_whitespace().next())
        .map(str::to_ascii_lowercase);
    let mut auth = SenderAuth {
        authserv_id: id,
        ..SenderAuth::default()
    };
    for part in parts {
        let Some((method, rest)) = part.trim().split_once('=') else {
            continue;
        };
        let result = rest
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let slot = match method.trim().to_ascii_lowercase().as_str() {
            "spf" => &mut auth.spf,
            "dkim" => &mut auth.dkim,
            "dmarc" => &mut auth.dmarc,
            _ => continue,
        };
        // Several DKIM signatures: one that passes is what counts.
        if slot.is_none() || result == "pass" {
            *slot = Some(result);
        }
    }
    auth
}

/// Drops `(comments)`, nested ones included.
fn strip_comments(s: &str) -> String {
    let mut depth = 0u32;
    s.chars()
        .filter(|&c| match c {
            '(' => {
                depth += 1;
                false
            }
            ')' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_trusted_servers_results() {
        let headers = vec![
            "mx.lab.example; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=a@corp.example; \
             dkim=fail header.d=corp.example; dkim=pass header.d=corp.example; dmarc=pass"
                .to_owned(),
            "forged.example; spf=fail".to_owned(),
        ];
        let a = SenderAuth::from_headers(&headers, &[]);
        assert_eq!(a.authserv_id.as_deref(), Some("mx.lab.example"));
        assert_eq!(a.spf.as_deref(), Some("pass"));
        assert_eq!(a.dkim.as_deref(), Some("pass"));
        assert_eq!(a.dmarc.as_deref(), Some("pass"));
        assert_eq!(a.failed(), None);
        let f = SenderAuth::from_headers(&headers, &["FORGED.example".to_owned()]);
        assert_eq!(f.failed().as_deref(), Some("spf=fail"));
        assert_eq!(
            SenderAuth::from_headers(&headers, &["other".to_owned()]),
            SenderAuth::default()
        );
        assert_eq!(SenderAuth::from_headers(&[], &[]), SenderAuth::default());
        assert_eq!(parse("x; none").spf, None);
        assert_eq!(parse(";;==;(((").authserv_id, None);
    }
}
