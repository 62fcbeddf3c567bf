//! What every page and form of both realms goes through: security headers
//! (a Content-Security-Policy with no inline script, no framing, no
//! sniffing, no referrer — links carry tokens), a refusal of cross-origin
//! posts, cookies with the right attributes, and the CSRF check of every
//! form post: a random token in an HttpOnly, SameSite=Strict cookie that
//! the form must echo (the double-submit pattern; a cross-site page can
//! neither read the cookie nor make the browser send it).

use std::net::IpAddr;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::account::token::{self, Secret};

/// The CSRF cookie.
pub const CSRF_COOKIE: &str = "intake_csrf";

pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response, and refuses a state-changing
/// request whose `Origin` is another site's.
pub async fn headers(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD && cross_origin(req.headers()) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused\n").into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it a browser sends `Origin: null` with
    // every form post, which the check above must refuse. `same-origin`
    // keeps SR numbers and link tokens in URLs from leaving the site.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// An `Origin` that names a host other than the one asked.
fn cross_origin(h: &HeaderMap) -> bool {
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

/// The value of cookie `name`.
pub fn cookie<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly always, `Secure` when served over TLS.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: Option<i64>,
    secure: bool,
) -> String {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The request's CSRF token, and the cookie to set when it had none.
pub fn csrf_token(h: &HeaderMap, secure: bool) -> (String, Option<String>) {
    if let Some(t) = cookie(h, CSRF_COOKIE).filter(|t| t.len() == 43) {
        return (t.to_owned(), None);
    }
    match Secret::generate() {
        Ok(s) => {
            let set = set_cookie(CSRF_COOKIE, s.as_str(), "/", "Strict", None, secure);
            (s.as_str().to_owned(), Some(set))
        }
        // No randomness: no token, so every post is refused.
        Err(_) => (String::new(), None),
    }
}

/// The client a request came from: the peer, or, when the peer is one of
/// the `trusted` proxies, the nearest address in `X-Forwarded-For` that is
/// not one of them (the entries before it are the client's to forge).
pub fn client_address(peer: IpAddr, h: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = h
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}

/// A form that carries the CSRF token.
pub trait WithCsrf {
    fn csrf(&self) -> &str;
}

/// Implements [`WithCsrf`] for forms whose token is their `csrf` field.
macro_rules! csrf_field {
    ($($form:ty),* $(,)?) => {
        $(impl $crate::http::guard::WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
pub(crate) use csrf_field;

/// A form post whose CSRF token matched its cookie. Handlers of form posts
/// take this instead of `Form`, so none can forget the check.
pub struct CheckedForm<T>(pub T);

impl<S, T> FromRequest<S> for CheckedForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned + WithCsrf,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let refused = || {
            (
                StatusCode::FORBIDDEN,
                "the form has expired or came from another site: reload the page and try again\n",
            )
                .into_response()
        };
        // Without its cookie a post is refused before its body is read.
        let Some(cookie) = cookie(req.headers(), CSRF_COOKIE).map(str::to_owned) else {
            return Err(refused());
        };
        let axum::Form(form) = axum::Form::<T>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !cookie.is_empty() && token::same(&cookie, form.csrf()) {
            Ok(CheckedForm(form))
        } else {
            Err(refused())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_behind_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let proxy = ip("10.0.0.1");
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.7, 10.0.0.2".parse().expect("hv"),
        );
        // Not from a proxy: the header is the client's own words.
        assert_eq!(
            client_address(ip("198.51.100.1"), &h, &[proxy]),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(proxy, &h, &[proxy, ip("10.0.0.2")]),
            ip("203.0.113.7")
        );
        assert_eq!(client_address(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "portal.example:8443".parse().expect("hv"));
        assert!(!cross_origin(&h));
        h.insert(
            header::ORIGIN,
            "https://portal.example:8443".parse().expect("hv"),
        );
        assert!(!cross_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().expect("hv"));
        assert!(cross_origin(&h));
        h.insert(header::ORIGIN, "null".parse().expect("hv"));
        assert!(cross_origin(&h));
    }

    #[test]
    fn cookies_are_read_and_written_with_their_attributes() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; intake_csrf=xyz; b=2".parse().expect("hv"),
        );
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie("s", "v", "/portal", "Lax", Some(60), true);
        assert_eq!(
            c,
            "s=v; Path=/portal; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let (t, set) = csrf_token(&h, false);
        assert_eq!(t.len(), 43, "a short cookie is replaced");
        assert!(set.is_some_and(|s| s.contains("SameSite=Strict") && !s.contains("Secure")));
    }
}
