//! The staff's pages under `/triage/`: sign-in and sign-out in the staff
//! realm (its own session cookie, never a customer's), and the queues —
//! each with its count, ordered by the next deadline, what breached it
//! marked with how late, paged by a key in the URL so a view can be
//! bookmarked and shared. Server-rendered through `http::page`; every form
//! post is CSRF-checked.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::queue::{self, Key, Queue};
use crate::account::Backoff;
use crate::http::guard::{self, CheckedForm};
use crate::http::page::{self, Visit, finish};
use crate::http::session;
use crate::ingest::Intake;
use crate::store::accounts::Account;

/// What the staff pages share.
pub struct Desk {
    pub intake: Intake,
    /// How staff reach intake; cookies are `Secure` when it is `https`.
    pub public_url: String,
    pub backoff: Backoff,
    pub trusted_proxies: Vec<IpAddr>,
}

impl Desk {
    fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    fn now(&self) -> DateTime<Utc> {
        self.intake.clock.now()
    }
}

/// Lines on one queue page.
const PAGE: i64 = 50;

/// The staff's routes.
pub fn router(desk: Desk) -> Router {
    Router::new()
        .route("/triage", get(|| async { Redirect::to("/triage/") }))
        .route("/triage/", get(queue_page))
        .route("/triage/sign-in", get(sign_in_page).post(sign_in))
        .route("/triage/sign-out", post(sign_out))
        .with_state(Arc::new(desk))
}

fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "triage");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "something went wrong on our side; try again later\n",
    )
        .into_response()
}

/// The signed-in staff member and the page visit. Everyone else is sent
/// to sign in before any handler runs.
pub struct Staff {
    account: Account,
    visit: Visit,
}

impl FromRequestParts<Arc<Desk>> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, d: &Arc<Desk>) -> Result<Self, Response> {
        match session::signed_in(&d.intake.pool, &session::STAFF, &parts.headers, d.now()).await {
            Ok(Some(account)) => {
                let mut visit = Visit::new(&parts.headers, None, d.secure());
                visit.lang = account.lang;
                Ok(Staff { account, visit })
            }
            Ok(None) => Err(Redirect::to("/triage/sign-in").into_response()),
            Err(e) => Err(failed(e)),
        }
    }
}

#[derive(Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
}

async fn sign_in_page(
    State(d): State<Arc<Desk>>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let v = Visit::new(&headers, q.lang.as_deref(), d.secure());
    session::form(&session::STAFF, &v, StatusCode::OK, "", None, None)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

guard::csrf_field!(SignInForm, CsrfOnly);

async fn sign_in(
    State(d): State<Arc<Desk>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<SignInForm>,
) -> Response {
    let v = Visit::new(&headers, None, d.secure());
    let address = guard::client_address(peer.ip(), &headers, &d.trusted_proxies).to_string();
    session::answer(
        &d.intake.pool,
        &session::STAFF,
        &v,
        &form.email,
        &form.password,
        &address,
        d.now(),
        &d.backoff,
        d.secure(),
    )
    .await
    .unwrap_or_else(failed)
}

async fn sign_out(
    State(d): State<Arc<Desk>>,
    headers: HeaderMap,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> Response {
    if let Some(s) = guard::cookie(&headers, session::STAFF.cookie)
        && let Err(e) = crate::store::accounts::sign_out(&d.intake.pool, s).await
    {
        return failed(e);
    }
    let mut res = Redirect::to("/triage/sign-in").into_response();
    if let Ok(c) = HeaderValue::from_str(&session::ended(&session::STAFF, d.secure())) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

#[derive(Deserialize, Default)]
struct QueueQuery {
    queue: Option<String>,
    after: Option<String>,
}

/// A queue's name, kind (for its words) and severity level.
fn names(q: Queue) -> (String, &'static str, Option<u8>) {
    match q {
        Queue::Urgent => (q.to_string(), "urgent", None),
        Queue::Severity(s) => (q.to_string(), "sev", Some(s.level())),
        Queue::Unverified => (q.to_string(), "unverified", None),
        Queue::NeedsInfo => (q.to_string(), "needs_info", None),
        Queue::Dead => (q.to_string(), "dead", None),
    }
}

async fn queue_page(
    State(d): State<Arc<Desk>>,
    Staff { account, visit: v }: Staff,
    Query(q): Query<QueueQuery>,
) -> Response {
    // A queue or key that does not parse shows the most urgent from the
    // start: a mangled bookmark still lands somewhere useful.
    let queue: Queue = q
        .queue
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(Queue::Urgent);
    let after: Option<Key> = q.after.as_deref().and_then(|s| s.parse().ok());
    let (lines, counts) = match tokio::try_join!(
        queue::page(&d.intake.pool, queue, after, PAGE),
        queue::counts(&d.intake.pool)
    ) {
        Ok(x) => x,
        Err(e) => return failed(e),
    };
    let now = d.now();
    let next = (lines.len() as i64 == PAGE)
        .then(|| lines.last())
        .flatten()
        .map(|l| {
            let key = l.key.to_string();
            // `+` of the offset would read back as a space.
            let encoded: String = key
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._:".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("/triage/?queue={queue}&after={encoded}")
        });
    let rows: Vec<_> = lines
        .iter()
        .map(|l| {
            minijinja::context! {
                number => l.number.to_string(),
                severity => l.severity.level(),
                tier => l.tier.as_str(),
                status => l.status.as_str(),
                channel => l.channel.clone(),
                company => l.company.clone(),
                due => l.next_due.map(page::when),
                late => queue::breached_by(l.next_due, now).map(queue::late),
            }
        })
        .collect();
    let tabs: Vec<_> = counts
        .iter()
        .map(|(q, n)| {
            let (name, kind, level) = names(*q);
            minijinja::context! { name => name, kind => kind, level => level, count => n }
        })
        .collect();
    let (name, kind, level) = names(queue);
    let ctx = minijinja::context! {
        account => minijinja::context! { name => account.name.clone() },
        queue => name,
        queue_kind => kind,
        level => level,
        queues => tabs,
        lines => rows,
        next => next,
    };
    finish(&v, page::render("triage/queue.html", v.lang, &v.csrf, ctx))
}
