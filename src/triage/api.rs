//! The staff's JSON API for scripts, under `/api/v1/triage/`: the queues
//! with their counts and filters (the same as the pages'), assignment and
//! severity in bulk, and the first-response figures. Authenticated by a
//! staff API token (`intake staff token`); a customer's token opens
//! nothing here. Described at `/api/triage/openapi.json`, from the same
//! declaration as the routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::queue::{self, Filter, Key, Queue, Reader};
use super::response::Figures;
use super::web::Desk;
use super::{AssignTo, By, TriageError};
use crate::account::Realm;
use crate::http::problem::{self, ApiError, Body, Problem, TokenScheme};
use crate::sr::{Severity, SrNumber};
use crate::store::accounts::Account;

/// The staff member an API token names.
pub struct TokenStaff(Account);

impl FromRequestParts<Arc<Desk>> for TokenStaff {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, d: &Arc<Desk>) -> Result<Self, Problem> {
        problem::token_account(&d.intake.pool, &parts.headers, Realm::Staff, d.now())
            .await
            .map(TokenStaff)
    }
}

fn invalid(message: String) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

/// What a bulk action names that is not there is `404`, like a path.
fn refused(e: TriageError) -> Problem {
    match e {
        TriageError::NoSuchSr(_) | TriageError::NoSuchStaff(_) => {
            Problem::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        e => Problem::internal(e),
    }
}

/// A view's filters, as the pages' URLs carry them (described here; read
/// by [`Asked`]).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    #[param(pattern = "^(open|needs_info|unverified|in_analysis|awaiting_verdict|answered)$")]
    pub status: Option<String>,
    #[param(pattern = "^(L1|L2|L3|engineering)$")]
    pub tier: Option<String>,
    /// 1 (business stopped) to 5.
    #[param(pattern = "^[1-5]$")]
    pub severity: Option<String>,
    #[param(pattern = "^(email|portal)$")]
    pub channel: Option<String>,
    /// `me`, `none`, or a staff member's address.
    #[param(pattern = "^(me|none|[^@]+@[^@]+)$", max_length = 254)]
    pub assignee: Option<String>,
    #[param(pattern = "^(malicious|suspicious|clean|unknown)$")]
    pub verdict: Option<String>,
    /// A grant number, or part of a company's name (no NUL).
    #[param(min_length = 1, max_length = 200, pattern = "^[^\\u0000]+$")]
    pub grant: Option<String>,
    /// Opened at least this many days ago.
    #[param(pattern = "^[0-9]{1,5}$")]
    pub older_than_days: Option<String>,
}

/// Where a page starts and how long it is.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// The `next` of the previous page.
    #[param(
        pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}),[0-9]{1,18}$"
    )]
    pub after: Option<String>,
    /// Lines per page, 1 to 500 (default 50).
    #[param(pattern = "^([1-9]|[1-9][0-9]|[1-4][0-9][0-9]|500)$")]
    pub limit: Option<String>,
}

/// A request's query as `(key, value)` pairs: each key at most once.
struct Asked(Vec<(String, String)>);

impl Asked {
    fn of(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Asked, Problem> {
        for (i, (k, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(seen, _)| seen == k) {
                return Err(invalid(format!("{k} is given more than once")));
            }
            if !allowed.contains(&k.as_str()) {
                return Err(invalid(format!("{k} is not a parameter here")));
            }
        }
        Ok(Asked(pairs))
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn filter(&self) -> Result<Filter, Problem> {
        // The pages forgive an empty field (a form's "any"); a script is
        // told, as the description says.
        let filters = || {
            self.0
                .iter()
                .filter(|(k, _)| queue::FILTER_KEYS.contains(&k.as_str()))
        };
        if let Some((k, _)) = filters().find(|(_, v)| v.is_empty()) {
            return Err(invalid(format!("{k} is empty")));
        }
        Filter::parse(filters().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(invalid)
    }

    /// The page key: `404` for one shaped right that names no moment.
    fn after(&self) -> Result<Option<Key>, Problem> {
        let Some(s) = self.get("after") else {
            return Ok(None);
        };
        match s.parse::<Key>() {
            Ok(k) => Ok(Some(k)),
            Err(e) if queue::key_shaped(s) => {
                Err(Problem::new(StatusCode::NOT_FOUND, "not_found", e))
            }
            Err(e) => Err(invalid(e)),
        }
    }

    fn limit(&self) -> Result<i64, Problem> {
        let Some(s) = self.get("limit") else {
            return Ok(50);
        };
        Some(s)
            .filter(|s| s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| invalid(format!("{s:?} is not a limit (1 to 500)")))
    }
}

/// One queue and how many SRs it holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueCount {
    /// `urgent`, `sev1`…`sev5`, `unverified`, `needs_info`, `dead`.
    pub queue: String,
    pub count: i64,
}

/// One SR in a queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueLine {
    pub number: String,
    pub severity: u8,
    pub tier: String,
    pub status: String,
    pub channel: String,
    pub company: Option<String>,
    pub assignee: Option<String>,
    /// The next deadline of any kind; none when none is left.
    pub next_due: Option<DateTime<Utc>>,
    /// Seconds since the deadline passed, when it has (and the clock runs).
    pub breached_by_secs: Option<i64>,
    /// Its clock is stopped: it waits on the customer.
    pub waiting: bool,
    pub opened_at: DateTime<Utc>,
}

/// A page of a queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuePage {
    pub queue: String,
    pub lines: Vec<QueueLine>,
    /// Pass as `after` for the next page; none on the last.
    pub next: Option<String>,
}

fn reader(a: &Account, d: &Desk) -> Reader {
    Reader {
        account_id: a.id,
        now: d.now(),
    }
}

/// Every queue with its count, under the filters.
#[utoipa::path(get, path = "/api/v1/triage/queues", tag = "triage", params(Filters),
    security(("token" = [])),
    responses((status = 200, body = Vec<QueueCount>), (status = 401, body = ApiError),
              (status = 422, body = ApiError)))]
async fn queues(
    State(d): State<Arc<Desk>>,
    TokenStaff(a): TokenStaff,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<QueueCount>>, Problem> {
    let filter = Asked::of(q, &queue::FILTER_KEYS)?.filter()?;
    let counts = queue::counts(&d.intake.pool, &filter, reader(&a, &d))
        .await
        .map_err(Problem::internal)?;
    Ok(Json(
        counts
            .into_iter()
            .map(|(q, count)| QueueCount {
                queue: q.to_string(),
                count,
            })
            .collect(),
    ))
}

/// One page of a queue, the next deadline first, under the filters.
#[utoipa::path(get, path = "/api/v1/triage/queues/{queue}", tag = "triage",
    params(("queue" = String, Path, pattern = "^(urgent|sev[1-5]|unverified|needs_info|dead)$"), Filters, Paging),
    security(("token" = [])),
    responses((status = 200, body = QueuePage), (status = 401, body = ApiError),
              (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn queue_page(
    State(d): State<Arc<Desk>>,
    TokenStaff(a): TokenStaff,
    Path(name): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<QueuePage>, Problem> {
    let mut allowed = queue::FILTER_KEYS.to_vec();
    allowed.extend(["after", "limit"]);
    let q = Asked::of(q, &allowed)?;
    let Ok(which) = name.parse::<Queue>() else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such queue".into(),
        ));
    };
    let filter = q.filter()?;
    let after = q.after()?;
    let limit = q.limit()?;
    let r = reader(&a, &d);
    let lines = queue::page(&d.intake.pool, which, &filter, r, after, limit)
        .await
        .map_err(Problem::internal)?;
    let next = (lines.len() as i64 == limit)
        .then(|| lines.last().map(|l| l.key.to_string()))
        .flatten();
    Ok(Json(QueuePage {
        queue: which.to_string(),
        lines: lines
            .into_iter()
            .map(|l| QueueLine {
                number: l.number.to_string(),
                severity: l.severity.level(),
                tier: l.tier.as_str().to_owned(),
                status: l.status.as_str().to_owned(),
                channel: l.channel.as_str().to_owned(),
                breached_by_secs: l.late_by(r.now).map(|d| d.num_seconds()),
                company: l.company,
                assignee: l.assignee,
                next_due: l.next_due,
                waiting: l.waiting,
                opened_at: l.opened_at,
            })
            .collect(),
        next,
    }))
}

fn numbers(srs: &[SrNumberText]) -> Result<Vec<SrNumber>, Problem> {
    if srs.is_empty() || srs.len() > 500 {
        return Err(invalid("name 1 to 500 SRs".into()));
    }
    srs.iter()
        .map(|s| {
            s.0.parse()
                .map_err(|_| invalid(format!("{:?} is not an SR number", s.0)))
        })
        .collect()
}

/// SRs to give to someone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// SR numbers, 1 to 500.
    #[schema(min_items = 1, max_items = 500, inline)]
    pub srs: Vec<SrNumberText>,
    /// A staff member's address; null gives them to no one.
    #[schema(min_length = 1, max_length = 254)]
    pub to: Option<String>,
}

/// `SR-2026-000123`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(pattern = "^SR-[0-9]{4}-[0-9]{6}$")]
pub struct SrNumberText(String);

/// How many SRs changed hands.
#[derive(Debug, Serialize, ToSchema)]
pub struct Assigned {
    pub changed: usize,
}

/// Gives SRs to a staff member (or to no one), all or none.
#[utoipa::path(post, path = "/api/v1/triage/assign", tag = "triage", request_body = AssignBody,
    security(("token" = [])),
    responses((status = 200, body = Assigned), (status = 401, body = ApiError),
              (status = 404, body = ApiError), (status = 415, body = ApiError),
              (status = 422, body = ApiError)))]
async fn assign(
    State(d): State<Arc<Desk>>,
    TokenStaff(a): TokenStaff,
    Body(body): Body<AssignBody>,
) -> Result<Json<Assigned>, Problem> {
    let srs = numbers(&body.srs)?;
    let to = body.to.map_or(AssignTo::Nobody, AssignTo::Staff);
    let by = By {
        actor: &a.email,
        now: d.now(),
    };
    let changed = super::assign(&d.intake.pool, &srs, &to, by)
        .await
        .map_err(refused)?;
    Ok(Json(Assigned { changed }))
}

/// SRs and the severity to give them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityBody {
    /// SR numbers, 1 to 500.
    #[schema(min_items = 1, max_items = 500, inline)]
    pub srs: Vec<SrNumberText>,
    /// 1 (business stopped) to 5 (information request).
    #[schema(minimum = 1, maximum = 5)]
    #[serde(deserialize_with = "problem::whole")]
    pub severity: u8,
}

/// Sets the severity of SRs, all or none; their deadlines are planned
/// afresh from now.
#[utoipa::path(post, path = "/api/v1/triage/severity", tag = "triage", request_body = SeverityBody,
    security(("token" = [])),
    responses((status = 204), (status = 401, body = ApiError), (status = 404, body = ApiError),
              (status = 415, body = ApiError), (status = 422, body = ApiError)))]
async fn severity(
    State(d): State<Arc<Desk>>,
    TokenStaff(a): TokenStaff,
    Body(body): Body<SeverityBody>,
) -> Result<StatusCode, Problem> {
    let srs = numbers(&body.srs)?;
    let severity = Severity::new(body.severity)
        .ok_or_else(|| invalid(format!("{} is not a severity (1 to 5)", body.severity)))?;
    let by = By {
        actor: &a.email,
        now: d.now(),
    };
    super::change_severities(&d.intake.pool, &srs, severity, by)
        .await
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The first-response figures over the last day and week, with the
/// acknowledgement's beside them.
#[utoipa::path(get, path = "/api/v1/triage/first-response", tag = "triage",
    security(("token" = [])),
    responses((status = 200, body = Figures), (status = 401, body = ApiError)))]
async fn first_response(
    State(d): State<Arc<Desk>>,
    _staff: TokenStaff,
) -> Result<Json<Figures>, Problem> {
    super::response::figures(&d.intake.pool, d.now())
        .await
        .map(Json)
        .map_err(Problem::internal)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "intake triage API", description = "The lab staff's queues and bulk actions."),
    modifiers(&TokenScheme)
)]
struct ApiDoc;

/// The API's routes and their OpenAPI description.
pub fn router(state: Arc<Desk>) -> (axum::Router, utoipa::openapi::OpenApi) {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(queues))
        .routes(routes!(queue_page))
        .routes(routes!(assign))
        .routes(routes!(severity))
        .routes(routes!(first_response))
        .routes(routes!(sr_dossier))
        .routes(routes!(sr_act))
        .routes(routes!(sr_sample))
        .routes(routes!(outbreaks))
        .split_for_parts();
    (router.with_state(state), api)
}

fn sr_in_path(s: &str) -> Result<SrNumber, Problem> {
    s.parse().map_err(|_| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such service request".into(),
        )
    })
}

/// An action refused as the SR stands is `409`; what it names that is not
/// there, `404`.
fn act_refused(e: TriageError) -> Problem {
    match e {
        TriageError::NoSuchSr(_) | TriageError::NotInSr { .. } => {
            Problem::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        TriageError::Refused(_) | TriageError::NoSuchStaff(_) => {
            Problem::new(StatusCode::CONFLICT, "refused", e.to_string())
        }
        e => Problem::internal(e),
    }
}

/// Everything about one SR (the SR page's content).
#[utoipa::path(get, path = "/api/v1/triage/srs/{sr}", tag = "triage",
    params(("sr" = String, Path, pattern = "^SR-[0-9]{4}-[0-9]{6}$")),
    security(("token" = [])),
    responses((status = 200, body = Object), (status = 401, body = ApiError),
              (status = 404, body = ApiError)))]
async fn sr_dossier(
    State(d): State<Arc<Desk>>,
    _staff: TokenStaff,
    Path(sr): Path<String>,
) -> Result<Json<super::dossier::Dossier>, Problem> {
    let sr = sr_in_path(&sr)?;
    super::dossier::read(&d.intake, &sr, d.now())
        .await
        .map_err(Problem::internal)?
        .map(Json)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "not_found", format!("no {sr}")))
}

/// One action of the handbook: the fields it needs, the rest absent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    #[schema(
        pattern = "^(claim|assign|severity|verdict|message|ask_info|contact|escalate|close|reopen|retry|detection)$"
    )]
    pub action: String,
    /// `assign`: a staff member's address, or `none`.
    #[schema(min_length = 1, max_length = 254)]
    pub assignee: Option<String>,
    /// `severity`: 1 to 5.
    #[schema(pattern = "^[1-5]$")]
    pub severity: Option<String>,
    /// `verdict`, `retry`, `detection`: the file.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: Option<String>,
    /// `verdict`: malicious (with `detection`), potentially_unwanted, clean.
    #[schema(pattern = "^(malicious|potentially_unwanted|clean)$")]
    pub verdict: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub detection: Option<String>,
    #[schema(min_length = 1, max_length = 2000)]
    pub note: Option<String>,
    /// `message`, `ask_info`: what the customer reads.
    #[schema(min_length = 1, max_length = 20000)]
    pub text: Option<String>,
    /// `contact`: phone or mail.
    #[schema(pattern = "^(phone|mail)$")]
    pub via: Option<String>,
    #[schema(min_length = 1, max_length = 500)]
    pub why: Option<String>,
    #[schema(pattern = "^(resolved|no_contact|duplicate|withdrawn)$")]
    pub resolution: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Acted {
    pub action: String,
    /// The SRs it changed (a verdict changes every SR holding the file).
    pub srs: Vec<String>,
    /// Customer notices queued.
    pub notified: usize,
}

#[utoipa::path(post, path = "/api/v1/triage/srs/{sr}/act", tag = "triage", request_body = ActBody,
    params(("sr" = String, Path, pattern = "^SR-[0-9]{4}-[0-9]{6}$")),
    security(("token" = [])),
    responses((status = 200, body = Acted), (status = 401, body = ApiError),
              (status = 404, body = ApiError), (status = 409, body = ApiError),
              (status = 415, body = ApiError), (status = 422, body = ApiError)))]
async fn sr_act(
    State(d): State<Arc<Desk>>,
    TokenStaff(a): TokenStaff,
    Path(sr): Path<String>,
    Body(body): Body<ActBody>,
) -> Result<Json<Acted>, Problem> {
    let sr = sr_in_path(&sr)?;
    let fields = [
        ("assignee", &body.assignee),
        ("severity", &body.severity),
        ("sha256", &body.sha256),
        ("verdict", &body.verdict),
        ("detection", &body.detection),
        ("note", &body.note),
        ("text", &body.text),
        ("via", &body.via),
        ("why", &body.why),
        ("resolution", &body.resolution),
    ];
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| v.as_deref())
    };
    let what = match super::Act::parse(&body.action, get) {
        Ok(what) => what,
        // What is not there is not found, whatever the body says.
        Err(why) => {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM service_requests WHERE sr_number = $1)",
            )
            .bind(sr.to_string())
            .fetch_one(&d.intake.pool)
            .await
            .map_err(Problem::internal)?;
            return Err(if exists {
                invalid(why)
            } else {
                Problem::new(StatusCode::NOT_FOUND, "not_found", format!("no {sr}"))
            });
        }
    };
    let by = By {
        actor: &a.email,
        now: d.now(),
    };
    let done = super::act(&d.intake, &sr, &what, by)
        .await
        .map_err(act_refused)?;
    Ok(Json(Acted {
        action: what.name().to_owned(),
        srs: done.srs.iter().map(ToString::to_string).collect(),
        notified: done.notified,
    }))
}

/// One file of the SR as a zip encrypted with AES-256 and the password
/// `infected` (the download is recorded on the SR).
#[utoipa::path(get, path = "/api/v1/triage/srs/{sr}/samples/{sha256}", tag = "triage",
    params(("sr" = String, Path, pattern = "^SR-[0-9]{4}-[0-9]{6}$"),
           ("sha256" = String, Path, pattern = "^[0-9a-f]{64}$")),
    security(("token" = [])),
    responses((status = 200, content_type = "application/zip", body = Vec<u8>),
              (status = 401, body = ApiError), (status = 404, body = ApiError)))]
async fn sr_sample(
    State(d): State<Arc<Desk>>,
    TokenStaff(a): TokenStaff,
    Path((sr, sha256)): Path<(String, String)>,
) -> Result<axum::response::Response, Problem> {
    let sr = sr_in_path(&sr)?;
    let sha256: crate::digest::Sha256 = sha256
        .parse()
        .map_err(|_| Problem::new(StatusCode::NOT_FOUND, "not_found", "no such file".into()))?;
    let by = By {
        actor: &a.email,
        now: d.now(),
    };
    let zip = super::sample::download(&d.intake, &sr, &sha256, by)
        .await
        .map_err(act_refused)?;
    Ok(super::sr_page::attachment(
        zip,
        "application/zip",
        &format!("{sha256}.zip"),
    ))
}

/// The outbreak queue: files without a staff verdict that many companies
/// sent within the configured hours.
#[utoipa::path(get, path = "/api/v1/triage/outbreaks", tag = "triage",
    security(("token" = [])),
    responses((status = 200, body = [Object]), (status = 401, body = ApiError)))]
async fn outbreaks(
    State(d): State<Arc<Desk>>,
    _staff: TokenStaff,
) -> Result<Json<Vec<super::outbreak::Outbreak>>, Problem> {
    super::outbreak::queue(&d.intake.pool, d.outbreak)
        .await
        .map(Json)
        .map_err(Problem::internal)
}
