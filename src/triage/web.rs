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
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::queue::{self, Filter, Key, Queue, Reader};
use super::response::Figures;
use super::{AssignTo, TriageError};
use crate::account::Backoff;
use crate::http::guard::{self, CheckedForm};
use crate::http::page::{self, Visit, finish};
use crate::http::session::{self, CsrfOnly, SignInForm};
use crate::ingest::Intake;
use crate::sr::{Severity, SrNumber};
use crate::store::accounts::Account;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// What the staff pages share.
pub struct Desk {
    pub intake: Intake,
    /// How staff reach intake; cookies are `Secure` when it is `https`.
    pub public_url: String,
    pub backoff: Backoff,
    pub trusted_proxies: Vec<IpAddr>,
    /// How long the queue page's counts and first-response figures (each a
    /// pass over every open SR) are shared between requests; zero computes
    /// them every time.
    pub cache_for: std::time::Duration,
    pub glance: Glance,
    /// When a file's cluster is raised to the outbreak queue.
    pub outbreak: super::outbreak::Threshold,
}

/// The queue page's counts (by filter) and figures, as last computed.
/// Past `cache_for` a request still gets them at once while one task
/// computes them afresh: staff never wait on a pass over every open SR
/// (except the first time a view is seen).
#[derive(Default)]
pub struct Glance {
    counts: Shared<Vec<(Queue, i64)>>,
    figures: Shared<Figures>,
}

/// Values by key, each with when it was computed.
struct Shared<T>(Mutex<HashMap<String, Kept<T>>>);

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared(Mutex::new(HashMap::new()))
    }
}

struct Kept<T> {
    at: Instant,
    value: T,
    refreshing: bool,
}

/// At most this many views are kept; past it they start afresh.
const GLANCE_VIEWS: usize = 256;

/// `key`'s value from `slot`: computed by `fetch` when missing (or when
/// nothing is shared), else the kept one, with one task started to compute
/// it afresh once it is older than `cache_for`.
async fn glanced<T, F, Fut>(
    d: &Arc<Desk>,
    slot: fn(&Glance) -> &Shared<T>,
    key: String,
    fetch: F,
) -> Result<T, TriageError>
where
    T: Clone + Send + 'static,
    F: FnOnce(Arc<Desk>) -> Fut,
    Fut: std::future::Future<Output = Result<T, TriageError>> + Send + 'static,
{
    if d.cache_for.is_zero() {
        return fetch(d.clone()).await;
    }
    let (kept, refresh) = match slot(&d.glance).0.lock() {
        Ok(mut m) => match m.get_mut(&key) {
            None => (None, true),
            Some(k) if k.at.elapsed() < d.cache_for => (Some(k.value.clone()), false),
            Some(k) => (
                Some(k.value.clone()),
                !std::mem::replace(&mut k.refreshing, true),
            ),
        },
        Err(_) => (None, true),
    };
    if let (Some(v), false) = (&kept, refresh) {
        return Ok(v.clone());
    }
    let computed = fetch(d.clone());
    let store = {
        let d = d.clone();
        async move {
            let v = computed.await;
            if let (Ok(v), Ok(mut m)) = (&v, slot(&d.glance).0.lock()) {
                if m.len() >= GLANCE_VIEWS {
                    m.clear();
                }
                let kept = Kept {
                    at: Instant::now(),
                    value: v.clone(),
                    refreshing: false,
                };
                m.insert(key, kept);
            }
            v
        }
    };
    match kept {
        Some(v) => {
            tokio::spawn(store);
            Ok(v)
        }
        None => store.await,
    }
}

impl Desk {
    fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.intake.clock.now()
    }

    async fn counts(
        self: &Arc<Self>,
        filter: &Filter,
        reader: Reader,
    ) -> Result<Vec<(Queue, i64)>, TriageError> {
        // "Mine" differs by reader: the account is part of the key.
        let key = format!("{}|{:?}", reader.account_id, filter.pairs());
        let filter = filter.clone();
        glanced(
            self,
            |g| &g.counts,
            key,
            move |d| async move { queue::counts(&d.intake.pool, &filter, reader).await },
        )
        .await
    }

    async fn figures(self: &Arc<Self>, now: DateTime<Utc>) -> Result<Figures, TriageError> {
        glanced(
            self,
            |g| &g.figures,
            String::new(),
            move |d| async move { super::response::figures(&d.intake.pool, now).await },
        )
        .await
    }
}

/// Lines on one queue page.
const PAGE: i64 = 50;

/// The staff's routes.
pub fn router(desk: Desk) -> Router {
    let desk = Arc::new(desk);
    let (api, doc) = super::api::router(desk.clone());
    Router::new()
        .route("/triage", get(|| async { Redirect::to("/triage/") }))
        .route("/triage/", get(queue_page))
        .route("/triage/act", post(act))
        .route("/triage/parked", get(parked_page))
        .merge(super::sr_page::routes())
        .route("/triage/sign-in", get(sign_in_page).post(sign_in))
        .route("/triage/sign-out", post(sign_out))
        .with_state(desk.clone())
        .merge(crate::http::problem::described(
            api,
            "/api/triage/openapi.json",
            doc,
        ))
}

pub(super) fn failed(e: impl std::fmt::Display) -> Response {
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
    pub(super) account: Account,
    pub(super) visit: Visit,
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
    let to = Redirect::to("/triage/sign-in").into_response();
    session::leave(&d.intake.pool, &session::STAFF, &headers, d.secure(), to)
        .await
        .unwrap_or_else(failed)
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

/// What a queue page's URL says: the queue, the filter, the page key.
struct View {
    queue: Queue,
    filter: Filter,
    after: Option<Key>,
    /// Why the filter in the URL was not used.
    error: Option<String>,
}

impl View {
    fn of(pairs: &[(String, String)]) -> View {
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        // A queue or key that does not parse shows the most urgent from the
        // start: a mangled bookmark still lands somewhere useful.
        let queue = get("queue")
            .and_then(|s| s.parse().ok())
            .unwrap_or(Queue::Urgent);
        let after = get("after").and_then(|s| s.parse().ok());
        let (filter, error) = match Filter::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.trim())))
        {
            Ok(f) => (f, None),
            Err(e) => (Filter::default(), Some(e)),
        };
        View {
            queue,
            filter,
            after,
            error,
        }
    }

    /// The URL of `queue` under this view's filter, from its start.
    fn url(&self, queue: Queue) -> String {
        let mut pairs = vec![("queue", queue.to_string())];
        pairs.extend(self.filter.pairs());
        format!("/triage/?{}", page::query(&pairs))
    }
}

async fn queue_page(
    State(d): State<Arc<Desk>>,
    Staff { account, visit: v }: Staff,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let view = View::of(&pairs);
    let reader = Reader {
        account_id: account.id,
        now: d.now(),
    };
    let pool = &d.intake.pool;
    let got = tokio::try_join!(
        queue::page(pool, view.queue, &view.filter, reader, view.after, PAGE),
        d.counts(&view.filter, reader),
        async {
            crate::store::staff::list(pool)
                .await
                .map_err(|e| TriageError::Inconsistent(e.to_string()))
        },
        async { Ok(crate::store::inputs::count_failed(pool).await?) },
        d.figures(reader.now),
    );
    let (lines, counts, staff, parked, figures) = match got {
        Ok(x) => x,
        Err(e) => return failed(e),
    };
    let now = reader.now;
    let next = (lines.len() as i64 == PAGE)
        .then(|| lines.last())
        .flatten()
        .map(|l| {
            format!(
                "{}&{}",
                view.url(view.queue),
                page::query(&[("after", l.key.to_string())])
            )
        });
    let rows: Vec<_> = lines
        .iter()
        .map(|l| {
            minijinja::context! {
                number => l.number.to_string(),
                severity => l.severity.level(),
                tier => l.tier.as_str(),
                status => l.status.as_str(),
                channel => l.channel.as_str(),
                company => l.company.clone(),
                assignee => l.assignee.clone(),
                due => l.next_due.map(page::when),
                waiting => l.waiting,
                late => l.late_by(now).map(queue::late),
            }
        })
        .collect();
    let tabs: Vec<_> = counts
        .iter()
        .map(|(q, n)| {
            let (name, kind, level) = names(*q);
            minijinja::context! { name => name, url => view.url(*q), kind => kind, level => level, count => n }
        })
        .collect();
    let members: Vec<_> = staff
        .iter()
        .filter(|m| m.disabled_at.is_none())
        .map(|m| minijinja::context! { email => m.email.clone(), name => m.name.clone() })
        .collect();
    // Every key, empty when not set: the template reads them all.
    let mut set: std::collections::BTreeMap<&str, String> = queue::FILTER_KEYS
        .iter()
        .map(|k| (*k, String::new()))
        .collect();
    set.extend(view.filter.pairs());
    let (name, kind, level) = names(view.queue);
    let here = match view.after {
        Some(k) => format!(
            "{}&{}",
            view.url(view.queue),
            page::query(&[("after", k.to_string())])
        ),
        None => view.url(view.queue),
    };
    let ctx = minijinja::context! {
        account => minijinja::context! { name => account.name.clone() },
        queue => name,
        queue_kind => kind,
        level => level,
        queues => tabs,
        lines => rows,
        next => next,
        here => here,
        filter => set,
        filter_error => view.error,
        members => members,
        parked => parked,
        figures => figures.context(),
    };
    finish(&v, page::render("triage/queue.html", v.lang, &v.csrf, ctx))
}

/// The queue page's form over the SRs ticked: claim them, give them to
/// someone (or no one), or set their severity.
async fn act(
    State(d): State<Arc<Desk>>,
    Staff { account, .. }: Staff,
    CheckedForm(form): CheckedForm<Pairs>,
) -> Response {
    let get = |k: &str| form.get(k).unwrap_or("");
    // Back to the view the form was on; anything else to the queues.
    let back = Some(get("back"))
        .filter(|b| b.starts_with("/triage/?") || *b == "/triage/")
        .unwrap_or("/triage/")
        .to_owned();
    let mut srs = Vec::new();
    for n in form.all("sr") {
        match n.parse::<SrNumber>() {
            Ok(sr) => srs.push(sr),
            Err(_) => return (StatusCode::BAD_REQUEST, "not an SR number\n").into_response(),
        }
    }
    if srs.is_empty() {
        return Redirect::to(&back).into_response();
    }
    let by = super::By {
        actor: &account.email,
        now: d.now(),
    };
    let pool = &d.intake.pool;
    let done = match get("action") {
        "claim" => super::assign(pool, &srs, &AssignTo::Staff(account.email.clone()), by)
            .await
            .map(|_| ()),
        "assign" => {
            let to = match get("assignee") {
                "" | "none" => AssignTo::Nobody,
                email => AssignTo::Staff(email.to_owned()),
            };
            super::assign(pool, &srs, &to, by).await.map(|_| ())
        }
        "severity" => match get("severity").parse::<u8>().ok().and_then(Severity::new) {
            Some(s) => super::change_severities(pool, &srs, s, by).await,
            None => return (StatusCode::BAD_REQUEST, "not a severity\n").into_response(),
        },
        // Each SR closes on its own: one already closed is said, the rest close.
        "close" => {
            let close = super::Act::Close {
                resolution: crate::sr::Resolution::Resolved,
                note: Some(get("note").trim())
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            };
            let mut refused = Vec::new();
            for sr in &srs {
                match super::act(&d.intake, sr, &close, by).await {
                    Ok(_) => {}
                    Err(TriageError::Refused(why)) => refused.push(why),
                    Err(e) => return failed(e),
                }
            }
            if refused.is_empty() {
                Ok(())
            } else {
                return (StatusCode::CONFLICT, format!("{}\n", refused.join("\n"))).into_response();
            }
        }
        _ => return (StatusCode::BAD_REQUEST, "no such action\n").into_response(),
    };
    match done {
        Ok(()) => Redirect::to(&back).into_response(),
        Err(e @ (TriageError::NoSuchSr(_) | TriageError::NoSuchStaff(_))) => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")).into_response()
        }
        Err(e) => failed(e),
    }
}

/// A form's fields in order, repeated names kept (the ticked SRs).
#[derive(Deserialize)]
#[serde(transparent)]
pub(super) struct Pairs(Vec<(String, String)>);

impl Pairs {
    pub(super) fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, k: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

impl guard::WithCsrf for Pairs {
    fn csrf(&self) -> &str {
        self.get("csrf").unwrap_or("")
    }
}

/// The inputs whose deciding failed and were parked, for staff to look at
/// (and replay with `intake inputs retry`).
async fn parked_page(State(d): State<Arc<Desk>>, Staff { account, visit: v }: Staff) -> Response {
    let parked = match crate::store::inputs::failed(&d.intake.pool).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let rows: Vec<_> = parked
        .iter()
        .map(|p| {
            minijinja::context! {
                id => p.id,
                channel => p.channel.clone(),
                external_id => p.external_id.clone(),
                received => page::when(p.received_at),
                failed => p.failed_at.map(page::when),
                attempts => p.attempts,
                error => p.error.clone(),
            }
        })
        .collect();
    let ctx = minijinja::context! {
        account => minijinja::context! { name => account.name.clone() },
        inputs => rows,
    };
    finish(&v, page::render("triage/parked.html", v.lang, &v.csrf, ctx))
}
