//! The addresses intake takes mail for, and tells its own mail by (so it
//! never answers itself): used by the listeners at `RCPT` and by the answer
//! rules alike.

/// The addresses intake takes mail for.
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    addresses: Vec<String>,
    domains: Vec<String>,
}

impl Recipients {
    pub fn new(list: &[String]) -> Self {
        let mut r = Recipients::default();
        for a in list {
            let a = a.trim().to_ascii_lowercase();
            match a.strip_prefix('@') {
                Some(d) => r.domains.push(d.to_owned()),
                None if !a.is_empty() => r.addresses.push(a),
                None => {}
            }
        }
        r
    }

    /// Whether mail for `address` is ours (and so, as a sender, whether mail
    /// is our own: answering it would loop). Case-insensitive; a `+tag` in
    /// the local part is ignored.
    pub fn accepts(&self, address: &str) -> bool {
        let a = address.to_ascii_lowercase();
        let Some((local, domain)) = a.rsplit_once('@') else {
            return false;
        };
        let local = local.split_once('+').map_or(local, |(l, _)| l);
        self.domains.iter().any(|d| d == domain)
            || self
                .addresses
                .iter()
                .any(|x| x.rsplit_once('@') == Some((local, domain)))
    }
}
