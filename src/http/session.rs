//! Signing in and out of one realm, for the portal's pages and the staff's
//! alike: each realm's session cookie (its own name and path, so the
//! realms never share one), what a sign-in attempt comes to, and the
//! cookie that ends a session.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::guard;
use super::page::{self, Visit};
use crate::account::{self, Backoff, Realm, SESSION_LIFETIME};
use crate::store::accounts::{self, Account, AccountError, SignIn};

/// One realm's way in.
#[derive(Debug, Clone, Copy)]
pub struct Door {
    pub realm: Realm,
    /// The session cookie's name.
    pub cookie: &'static str,
    /// The pages it is sent to.
    pub path: &'static str,
    /// Where a session lands.
    pub home: &'static str,
    /// The sign-in page's template.
    pub template: &'static str,
}

/// Customers, on the portal.
pub const CUSTOMERS: Door = Door {
    realm: Realm::Customer,
    cookie: "intake_portal",
    path: "/portal",
    home: "/portal/",
    template: "portal/sign_in.html",
};

/// Lab staff, on the triage pages.
pub const STAFF: Door = Door {
    realm: Realm::Staff,
    cookie: "intake_staff",
    path: "/triage",
    home: "/triage/",
    template: "triage/sign_in.html",
};

/// What a sign-in attempt came to.
enum Attempt {
    /// Signed in; `cookie` is the session's `Set-Cookie` value.
    In { cookie: String },
    /// Refused: the status, the words' key for why, and until when.
    Refused {
        status: StatusCode,
        error: &'static str,
        until: Option<DateTime<Utc>>,
    },
}

/// Tries `email` and `password` at `door` for the client at `address`.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    pool: &PgPool,
    door: &Door,
    email: &str,
    password: &str,
    address: &str,
    now: DateTime<Utc>,
    backoff: &Backoff,
    secure: bool,
) -> Result<Attempt, AccountError> {
    let email = account::normalise_email(email).unwrap_or_default();
    let outcome =
        accounts::sign_in(pool, door.realm, &email, password, address, now, backoff).await?;
    let refused = |status, error, until| Attempt::Refused {
        status,
        error,
        until,
    };
    Ok(match outcome {
        SignIn::Ok { session, .. } => Attempt::In {
            cookie: guard::set_cookie(
                door.cookie,
                session.as_str(),
                door.path,
                "Lax",
                Some(SESSION_LIFETIME.num_seconds()),
                secure,
            ),
        },
        SignIn::Wrong => refused(StatusCode::UNAUTHORIZED, "wrong", None),
        SignIn::Locked { until } => refused(StatusCode::TOO_MANY_REQUESTS, "locked", Some(until)),
        SignIn::AddressRefused { until } => refused(
            StatusCode::TOO_MANY_REQUESTS,
            "address_refused",
            Some(until),
        ),
        SignIn::Unconfirmed => refused(StatusCode::FORBIDDEN, "unconfirmed", None),
    })
}

/// `door`'s sign-in page: the address typed, and why a try failed and
/// until when.
pub fn form(
    door: &Door,
    v: &Visit,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    until: Option<DateTime<Utc>>,
) -> Response {
    let ctx = minijinja::context! {
        email => email,
        error => error,
        until => until.map(page::when),
    };
    page::finish(
        v,
        page::render_status(status, door.template, v.lang, &v.csrf, ctx),
    )
}

/// The answer to a sign-in post at `door`: its home with the session
/// cookie, or the form again saying why (with `Retry-After` while locked).
#[allow(clippy::too_many_arguments)]
pub async fn answer(
    pool: &PgPool,
    door: &Door,
    v: &Visit,
    email: &str,
    password: &str,
    address: &str,
    now: DateTime<Utc>,
    backoff: &Backoff,
    secure: bool,
) -> Result<Response, AccountError> {
    Ok(
        match attempt(pool, door, email, password, address, now, backoff, secure).await? {
            Attempt::In { cookie } => {
                let mut res = Redirect::to(door.home).into_response();
                if let Ok(c) = HeaderValue::from_str(&cookie) {
                    res.headers_mut().append(header::SET_COOKIE, c);
                }
                page::finish(v, res)
            }
            Attempt::Refused {
                status,
                error,
                until,
            } => {
                let mut res = form(door, v, status, email, Some(error), until);
                if let Some(h) = until.and_then(|u| retry_after(u, now)) {
                    res.headers_mut().insert(header::RETRY_AFTER, h);
                }
                res
            }
        },
    )
}

/// The `Set-Cookie` value that ends `door`'s session in the browser.
pub fn ended(door: &Door, secure: bool) -> String {
    guard::set_cookie(door.cookie, "", door.path, "Lax", Some(0), secure)
}

/// Signs out of `door`: the session `headers` carry ends in the database,
/// and `res` (where the realm sends the browser next) clears its cookie.
pub async fn leave(
    pool: &PgPool,
    door: &Door,
    headers: &axum::http::HeaderMap,
    secure: bool,
    mut res: Response,
) -> Result<Response, AccountError> {
    if let Some(s) = guard::cookie(headers, door.cookie) {
        accounts::sign_out(pool, s).await?;
    }
    if let Ok(c) = HeaderValue::from_str(&ended(door, secure)) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

/// A sign-in form's fields, for either realm.
#[derive(serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

/// A form that carries nothing but its CSRF token (sign-out, revoke…).
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

guard::csrf_field!(SignInForm, CsrfOnly);

/// `Retry-After` for a refusal that lasts until `until`.
fn retry_after(until: DateTime<Utc>, now: DateTime<Utc>) -> Option<HeaderValue> {
    HeaderValue::from_str(&(until - now).num_seconds().max(1).to_string()).ok()
}

/// The account `door`'s session cookie in `headers` names, if it is live.
pub async fn signed_in(
    pool: &PgPool,
    door: &Door,
    headers: &axum::http::HeaderMap,
    now: DateTime<Utc>,
) -> Result<Option<Account>, AccountError> {
    match guard::cookie(headers, door.cookie) {
        Some(s) => accounts::session(pool, s, door.realm, now).await,
        None => Ok(None),
    }
}
