//! Sender checks an upstream MTA already made, read from its
//! `Authentication-Results` header (RFC 8601). intake does not check SPF or
//! DKIM itself: the MTA in front of it sees the connection, intake sees only
//! what it forwards. Only headers from the configured `authserv-id`s are
//! believed; with none configured, none is: anyone who reaches the listener
//! writes their own `Authentication-Results`.

pub use crate::sr::SenderAuth;

// `SenderAuth` is defined with the SR's entitlement rules (it is recorded
// with every submission); reading it out of headers belongs here.
impl SenderAuth {
    /// From the message's `Authentication-Results` headers, top-most first:
    /// the first from a `trusted` server; nothing when none is trusted.
    pub fn from_headers(results: &[String], trusted: &[String]) -> SenderAuth {
        results
            .iter()
            .map(|h| parse(h))
            .find(|a| {
                a.authserv_id
                    .as_deref()
                    .is_some_and(|id| trusted.iter().any(|t| t.eq_ignore_ascii_case(id)))
            })
            .unwrap_or_default()
    }

    /// Whether the trusted MTA vouched for `from_domain`, the domain of the
    /// From address: DMARC passed for it, or DKIM or SPF passed for a domain
    /// aligned with it (the same, or one a subdomain of the other).
    pub fn aligned_pass(&self, from_domain: &str) -> bool {
        let from = from_domain.to_ascii_lowercase();
        let passed = |result: &Option<String>, domain: &Option<String>| {
            result.as_deref() == Some("pass")
                && domain.as_deref().is_some_and(|d| aligned(d, &from))
        };
        passed(&self.dmarc, &self.dmarc_domain)
            || passed(&self.dkim, &self.dkim_domain)
            || passed(&self.spf, &self.spf_domain)
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
        let mut words = rest.split_whitespace();
        let result = words.next().unwrap_or("").to_ascii_lowercase();
        let property = |name: &str| {
            rest.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| domain_part(v))
        };
        let (slot, domain, value) = match method.trim().to_ascii_lowercase().as_str() {
            "spf" => (
                &mut auth.spf,
                &mut auth.spf_domain,
                property("smtp.mailfrom"),
            ),
            "dkim" => (&mut auth.dkim, &mut auth.dkim_domain, property("header.d")),
            "dmarc" => (
                &mut auth.dmarc,
                &mut auth.dmarc_domain,
                property("header.from"),
            ),
            _ => continue,
        };
        // Several DKIM signatures: one that passes is what counts.
        if slot.is_none() || (result == "pass" && slot.as_deref() != Some("pass")) {
            *slot = Some(result);
            *domain = value;
        }
    }
    auth
}

/// The domain in a property value (`a@corp.example` or `corp.example`).
fn domain_part(v: &str) -> String {
    let v = v.trim_matches(|c| c == '"' || c == '<' || c == '>' || c == ';');
    v.rsplit_once('@')
        .map_or(v, |(_, d)| d)
        .to_ascii_lowercase()
}

/// Relaxed alignment: the same domain, or one a subdomain of the other.
fn aligned(a: &str, b: &str) -> bool {
    let a = a.to_ascii_lowercase();
    !a.is_empty() && (a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}")))
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
        // Nobody trusted: nothing believed, whoever wrote the header.
        assert_eq!(
            SenderAuth::from_headers(&headers, &[]),
            SenderAuth::default()
        );
        let a = SenderAuth::from_headers(&headers, &["mx.lab.example".to_owned()]);
        assert_eq!(a.authserv_id.as_deref(), Some("mx.lab.example"));
        assert_eq!(a.spf.as_deref(), Some("pass"));
        assert_eq!(a.dkim.as_deref(), Some("pass"));
        assert_eq!(a.dmarc.as_deref(), Some("pass"));
        assert_eq!(a.spf_domain.as_deref(), Some("corp.example"));
        assert_eq!(a.dkim_domain.as_deref(), Some("corp.example"));
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

    /// A pass counts only for the domain it was about, aligned with From.
    #[test]
    fn a_pass_vouches_only_for_an_aligned_from_domain() {
        let a = parse("mx; spf=pass smtp.mailfrom=bounce@mail.corp.example; dkim=none; dmarc=none");
        assert!(a.aligned_pass("corp.example"));
        assert!(a.aligned_pass("mail.corp.example"));
        assert!(!a.aligned_pass("evil.test"));
        assert!(!a.aligned_pass("notcorp.example"));
        let d = parse("mx; dkim=pass header.d=evil.test; dmarc=pass header.from=evil.test");
        assert!(!d.aligned_pass("corp.example"));
        assert!(d.aligned_pass("evil.test"));
        let forged = parse(
            "mx; spf=fail smtp.mailfrom=mallory@evil.test; dmarc=fail header.from=corp.example",
        );
        assert!(!forged.aligned_pass("corp.example"));
        assert!(!SenderAuth::default().aligned_pass("corp.example"));
    }
}
