//! The portal's JSON API for scripts, under `/api/v1/`, authenticated by a
//! per-user API token (`Authorization: Bearer …`, made on the portal's
//! tokens page). The routes and the OpenAPI description served at
//! `/api/openapi.json` come from one declaration (`utoipa`), so they cannot
//! drift apart. Errors are one JSON shape with a stable code; what the
//! caller may not see is `404` like what does not exist.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::srs::check_new_sr;
use super::upload::{self, Refusal, Sender};
use super::web::Portal;
use crate::account::Realm;
use crate::http::problem::{self, ApiError, Body, Problem, TokenScheme};
use crate::store::accounts::{self, Account};
use crate::store::srs::{self, Change, View};

/// The customer an API token names; every API handler takes it, so none
/// runs for a caller without a live token.
pub struct TokenCustomer(Account);

impl FromRequestParts<Arc<Portal>> for TokenCustomer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, p: &Arc<Portal>) -> Result<Self, Problem> {
        problem::token_account(&p.intake.pool, &parts.headers, Realm::Customer, p.now())
            .await
            .map(TokenCustomer)
    }
}

/// One SR in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SrLine {
    /// `SR-2026-000123`.
    pub number: String,
    pub title: Option<String>,
    /// `open`, `needs_info`, `unverified`, `in_analysis`, `awaiting_verdict`, `answered`, `closed`.
    pub status: String,
    /// 1 (business stopped) to 5 (information request).
    pub severity: u8,
    pub opened_at: DateTime<Utc>,
    /// `email` or `portal`.
    pub channel: String,
}

impl From<&srs::Line> for SrLine {
    fn from(l: &srs::Line) -> SrLine {
        SrLine {
            number: l.number.to_string(),
            title: l.title.clone(),
            status: l.status.as_str().to_owned(),
            severity: l.severity.level(),
            opened_at: l.opened_at,
            channel: l.channel.clone(),
        }
    }
}

/// One entry of an SR's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct SrUpdate {
    pub at: DateTime<Utc>,
    /// `in` (from the customer) or `out` (to the customer).
    pub direction: String,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// The files this update brought (an upload, an email's samples).
    pub files: Vec<String>,
}

/// A file of the SR (its bytes are never served).
#[derive(Debug, Serialize, ToSchema)]
pub struct SrFile {
    pub path: String,
    pub sha256: String,
    pub size: i64,
    pub kind: String,
}

/// One SR with its history and files.
#[derive(Debug, Serialize, ToSchema)]
pub struct SrDetail {
    #[serde(flatten)]
    pub line: SrLine,
    pub grant_number: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub updates: Vec<SrUpdate>,
    pub files: Vec<SrFile>,
}

impl From<srs::Page> for SrDetail {
    fn from(p: srs::Page) -> SrDetail {
        SrDetail {
            line: SrLine::from(&p.line),
            grant_number: p.grant_number,
            closed_at: p.closed_at,
            resolution: p.resolution,
            updates: p
                .updates
                .into_iter()
                .map(|u| SrUpdate {
                    at: u.at,
                    direction: u.direction,
                    from: u.from,
                    subject: u.subject,
                    body: u.body,
                    files: u.files,
                })
                .collect(),
            files: p
                .files
                .into_iter()
                .map(|f| SrFile {
                    path: f.path,
                    sha256: f.sha256,
                    size: f.size,
                    kind: f.kind,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// `my_open` (default), `mine` or `company`.
    pub view: Option<String>,
}

/// A new SR.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSrBody {
    /// Up to 200 characters, with at least one that is neither a space nor
    /// a control character (control characters become spaces).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\s\\x00-\\x1f\\x7f-\\x9f]"
    )]
    pub title: String,
    /// 1 (business stopped) to 5 (information request).
    #[schema(minimum = 1, maximum = 5)]
    #[serde(deserialize_with = "problem::whole")]
    pub severity: u8,
    /// What happened, up to 20,000 characters, not only spaces.
    #[schema(min_length = 1, max_length = 20000, pattern = "\\S")]
    pub description: String,
}

/// A customer update.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateBody {
    /// Up to 20,000 characters, not only spaces.
    #[schema(min_length = 1, max_length = 20000, pattern = "\\S")]
    pub text: String,
}

/// A grant of the caller's company.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entitlement {
    pub grant_number: String,
    pub company: String,
    pub support_level: String,
    pub expires_on: Option<NaiveDate>,
}

/// The caller's company's entitlements.
#[utoipa::path(get, path = "/api/v1/entitlements", tag = "portal",
    security(("token" = [])),
    responses((status = 200, body = Vec<Entitlement>), (status = 401, body = ApiError)))]
async fn entitlements(
    State(p): State<Arc<Portal>>,
    TokenCustomer(a): TokenCustomer,
) -> Result<Json<Vec<Entitlement>>, Problem> {
    let grants = match &a.grant_number {
        Some(g) => accounts::company_grants(&p.intake.pool, g)
            .await
            .map_err(Problem::internal)?,
        None => Vec::new(),
    };
    Ok(Json(
        grants
            .into_iter()
            .map(|g| Entitlement {
                grant_number: g.grant_number,
                company: g.company,
                support_level: g.support_level,
                expires_on: g.expires_on,
            })
            .collect(),
    ))
}

/// The caller's SRs in one of the handbook's three views, newest first.
#[utoipa::path(get, path = "/api/v1/srs", tag = "portal", params(ListQuery),
    security(("token" = [])),
    responses((status = 200, body = Vec<SrLine>), (status = 401, body = ApiError)))]
async fn list_srs(
    State(p): State<Arc<Portal>>,
    TokenCustomer(a): TokenCustomer,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<SrLine>>, Problem> {
    let lines = srs::list(&p.intake.pool, &a, View::parse(q.view.as_deref()))
        .await
        .map_err(Problem::internal)?;
    Ok(Json(lines.iter().map(SrLine::from).collect()))
}

/// Opens an SR under the caller's grant.
#[utoipa::path(post, path = "/api/v1/srs", tag = "portal", request_body = NewSrBody,
    security(("token" = [])),
    responses((status = 201, body = SrDetail), (status = 401, body = ApiError),
              (status = 415, body = ApiError), (status = 422, body = ApiError)))]
async fn open_sr(
    State(p): State<Arc<Portal>>,
    TokenCustomer(a): TokenCustomer,
    Body(body): Body<NewSrBody>,
) -> Result<(StatusCode, Json<SrDetail>), Problem> {
    let new = check_new_sr(&body.title, &body.severity.to_string(), &body.description).map_err(
        |keys| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", keys.join(", ")),
    )?;
    let number = srs::open(&p.intake.pool, &a, &new, p.now())
        .await
        .map_err(Problem::internal)?;
    let page = srs::page(&p.intake.pool, &a, &number.to_string())
        .await
        .map_err(Problem::internal)?
        .ok_or_else(Problem::not_found)?;
    Ok((StatusCode::CREATED, Json(page.into())))
}

/// One SR with its history and files.
#[utoipa::path(get, path = "/api/v1/srs/{number}", tag = "portal",
    params(("number" = String, Path, description = "SR-2026-000123")),
    security(("token" = [])),
    responses((status = 200, body = SrDetail), (status = 401, body = ApiError),
              (status = 404, body = ApiError)))]
async fn get_sr(
    State(p): State<Arc<Portal>>,
    TokenCustomer(a): TokenCustomer,
    Path(number): Path<String>,
) -> Result<Json<SrDetail>, Problem> {
    let page = srs::page(&p.intake.pool, &a, &number)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(Problem::not_found)?;
    Ok(Json(page.into()))
}

fn changed(change: Change) -> Result<StatusCode, Problem> {
    match change {
        Change::Done => Ok(StatusCode::NO_CONTENT),
        Change::NotFound => Err(Problem::not_found()),
        Change::Closed => Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            "the SR is closed: reopen it first".into(),
        )),
        Change::NotClosed => Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            "the SR is not closed".into(),
        )),
        Change::TooLate { closed_at } => Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "closed on {} (more than 30 days ago): open a new SR",
                closed_at.format("%Y-%m-%d")
            ),
        )),
    }
}

/// Adds the caller's text to an SR that is not closed.
#[utoipa::path(post, path = "/api/v1/srs/{number}/updates", tag = "portal", request_body = UpdateBody,
    params(("number" = String, Path, description = "SR-2026-000123")),
    security(("token" = [])),
    responses((status = 204), (status = 401, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError), (status = 415, body = ApiError),
              (status = 422, body = ApiError)))]
async fn add_update(
    State(p): State<Arc<Portal>>,
    TokenCustomer(a): TokenCustomer,
    Path(number): Path<String>,
    Body(body): Body<UpdateBody>,
) -> Result<StatusCode, Problem> {
    let text = super::srs::storable(&body.text);
    let text = text.trim();
    if text.is_empty() || text.chars().count() > super::srs::TEXT_MAX {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "text: 1 to 20,000 characters".into(),
        ));
    }
    changed(
        srs::add_update(&p.intake.pool, &a, &number, text, p.now())
            .await
            .map_err(Problem::internal)?,
    )
}

/// Reopens a closed SR within 30 days of closing.
#[utoipa::path(post, path = "/api/v1/srs/{number}/reopen", tag = "portal",
    params(("number" = String, Path, description = "SR-2026-000123")),
    security(("token" = [])),
    responses((status = 204), (status = 401, body = ApiError), (status = 404, body = ApiError),
              (status = 409, body = ApiError)))]
async fn reopen(
    State(p): State<Arc<Portal>>,
    TokenCustomer(a): TokenCustomer,
    Path(number): Path<String>,
) -> Result<StatusCode, Problem> {
    changed(
        srs::reopen(&p.intake.pool, &a, &number, p.now())
            .await
            .map_err(Problem::internal)?,
    )
}

/// An upload: one or more files, and the facts as one JSON part.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    /// A JSON object with the facts of `intake check`'s report (the keys of
    /// CHECK_REPORT.md: `file_list`, `symptoms`, `detected`, …; the grant
    /// number defaults to the account's), `title` (a new SR's) and
    /// `passwords` (archive passwords tried after `infected`; recorded,
    /// never shown back). Anything but a JSON object is refused (`400`).
    #[schema(value_type = Option<Object>)]
    metadata: Option<String>,
    /// The files, raw or zipped with the password `infected`.
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1)]
    file: Vec<Vec<u8>>,
}

/// One accepted sample.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedSample {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// `pe`, `elf`, `script`, `document`, …
    pub kind: String,
    /// The verdict already known for this sample (a re-upload).
    pub verdict: Option<String>,
}

/// One file not accepted, with what to send instead.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedFile {
    pub path: String,
    /// The contract's reason code (`screenshot`, `av_log`, …).
    pub reason: String,
    pub advice: String,
}

/// What became of an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResult {
    /// The SR the files went to (a new one, unless the upload named one).
    pub sr: String,
    /// `accepted`, `needs_info` or `rejected`.
    pub outcome: String,
    pub samples: Vec<UploadedSample>,
    pub rejected: Vec<RefusedFile>,
    /// Keys of the facts still missing.
    pub missing: Vec<String>,
}

type MultipartBody = Result<Multipart, axum::extract::multipart::MultipartRejection>;

/// Uploads samples to a new SR. `Idempotency-Key` makes a retry find the
/// first upload instead of making a second.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "portal",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    params(("Idempotency-Key" = Option<String>, Header, description = "the client's id for this upload"),
           ("Prefer" = Option<String>, Header, description = "`respond-async`: answer 202 once stored, decide in the background")),
    security(("token" = [])),
    responses((status = 201, body = UploadResult),
              (status = 202, body = UploadStatus, description = "with `Prefer: respond-async`: stored, deciding"),
              (status = 400, body = ApiError),
              (status = 401, body = ApiError), (status = 403, body = ApiError),
              (status = 413, body = ApiError), (status = 415, body = ApiError),
              (status = 422, body = ApiError),
              (status = 429, body = ApiError, headers(("Retry-After" = u64, description = "seconds")))))]
async fn upload_new(
    State(p): State<Arc<Portal>>,
    TokenCustomer(a): TokenCustomer,
    headers: HeaderMap,
    body: MultipartBody,
) -> Result<UploadAnswer, Problem> {
    take_upload(&p, &a, &headers, None, body).await
}

/// Uploads samples to an SR of the caller's company.
#[utoipa::path(post, path = "/api/v1/srs/{number}/files", tag = "portal",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    params(("number" = String, Path, description = "SR-2026-000123"),
           ("Idempotency-Key" = Option<String>, Header, description = "the client's id for this upload"),
           ("Prefer" = Option<String>, Header, description = "`respond-async`: answer 202 once stored, decide in the background")),
    security(("token" = [])),
    responses((status = 201, body = UploadResult),
              (status = 202, body = UploadStatus, description = "with `Prefer: respond-async`: stored, deciding"),
              (status = 400, body = ApiError),
              (status = 401, body = ApiError), (status = 403, body = ApiError),
              (status = 404, body = ApiError),
              (status = 413, body = ApiError), (status = 415, body = ApiError),
              (status = 422, body = ApiError),
              (status = 429, body = ApiError, headers(("Retry-After" = u64, description = "seconds")))))]
async fn upload_files(
    State(p): State<Arc<Portal>>,
    TokenCustomer(a): TokenCustomer,
    Path(number): Path<String>,
    headers: HeaderMap,
    body: MultipartBody,
) -> Result<UploadAnswer, Problem> {
    let line = srs::visible(&p.intake.pool, &a, &number)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(Problem::not_found)?;
    take_upload(&p, &a, &headers, Some(line.number), body).await
}

/// An upload's answer: the recorded result (`201`, or `200` when asked
/// for later), or, asked with `Prefer: respond-async`, where it stands
/// (`202`).
pub enum UploadAnswer {
    Recorded(StatusCode, Box<UploadResult>),
    Pending(UploadStatus),
}

impl IntoResponse for UploadAnswer {
    fn into_response(self) -> Response {
        match self {
            UploadAnswer::Recorded(status, r) => (status, Json(*r)).into_response(),
            UploadAnswer::Pending(s) => {
                let location = format!("/api/v1/uploads/{}", s.id);
                let mut res = (StatusCode::ACCEPTED, Json(s)).into_response();
                if let Ok(v) = header::HeaderValue::from_str(&location) {
                    res.headers_mut().insert(header::LOCATION, v);
                }
                res
            }
        }
    }
}

/// An upload stored and not yet decided.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadStatus {
    /// The upload's id: `Idempotency-Key` when one was sent.
    pub id: String,
    /// `received` (deciding), or `failed` (deciding failed; the lab looks
    /// at it, nothing is lost).
    pub status: String,
}

fn result_of(done: &crate::store::uploads::Submitted) -> UploadResult {
    let (samples, rejected, missing) = upload::views(done);
    UploadResult {
        sr: done.sr.to_string(),
        outcome: done.report.outcome.as_str().to_owned(),
        samples: samples
            .into_iter()
            .map(|s| UploadedSample {
                path: s.path,
                sha256: s.sha256,
                size: s.size,
                kind: s.kind,
                verdict: s.verdict,
            })
            .collect(),
        rejected: rejected
            .into_iter()
            .map(|r| RefusedFile {
                path: r.path,
                reason: r.reason,
                advice: r.advice,
            })
            .collect(),
        missing,
    }
}

async fn take_upload(
    p: &Portal,
    a: &Account,
    headers: &HeaderMap,
    sr: Option<crate::sr::SrNumber>,
    body: MultipartBody,
) -> Result<UploadAnswer, Problem> {
    upload::admit(p, a, headers)
        .await
        .map_err(|r| refused(p, r))?;
    let body = body.map_err(|e| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send multipart/form-data ({})", e.body_text()),
        )
    })?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200 && k.chars().all(|c| c.is_ascii_graphic()));
    let sender = Sender {
        account: a,
        sr,
        csrf_cookie: None,
        key,
    };
    let received = upload::receive_body(p, sender, body)
        .await
        .map_err(|r| refused(p, r))?;
    let asynchronous = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("respond-async"));
    if asynchronous {
        let id = upload::store(p, received)
            .await
            .map_err(|r| refused(p, r))?;
        return Ok(UploadAnswer::Pending(UploadStatus {
            id,
            status: "received".into(),
        }));
    }
    let done = upload::record(p, received)
        .await
        .map_err(|r| refused(p, r))?;
    Ok(UploadAnswer::Recorded(
        StatusCode::CREATED,
        Box::new(result_of(&done)),
    ))
}

/// An upload's result once recorded (`200`), or where it stands (`202`).
#[utoipa::path(get, path = "/api/v1/uploads/{id}", tag = "portal",
    params(("id" = String, Path, description = "the upload's id")),
    security(("token" = [])),
    responses((status = 200, body = UploadResult), (status = 202, body = UploadStatus),
              (status = 401, body = ApiError), (status = 404, body = ApiError)))]
async fn upload_progress(
    State(p): State<Arc<Portal>>,
    TokenCustomer(a): TokenCustomer,
    Path(id): Path<String>,
) -> Result<UploadAnswer, Problem> {
    use crate::store::uploads::{self, Progress};
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "not_found", "no such upload".into());
    // Ids PostgreSQL could not compare (a NUL) name nothing.
    if id.contains('\0') {
        return Err(not_found());
    }
    let progress = uploads::progress(&p.intake.pool, &upload::upload_id(&a, &id))
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    match progress {
        Progress::Recorded(sub) => {
            let done = uploads::submitted(&p.intake.pool, sub)
                .await
                .map_err(Problem::internal)?;
            Ok(UploadAnswer::Recorded(
                StatusCode::OK,
                Box::new(result_of(&done)),
            ))
        }
        Progress::Received | Progress::Failed => Ok(UploadAnswer::Pending(UploadStatus {
            status: if progress == Progress::Failed {
                "failed"
            } else {
                "received"
            }
            .into(),
            id,
        })),
    }
}

/// A refused upload as the API's error.
fn refused(p: &Portal, r: Refusal) -> Problem {
    match r.counted(p) {
        Refusal::TooLarge { max } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("over the size limit of {max} bytes"),
        ),
        Refusal::TooManyFiles { max } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_files",
            format!("at most {max} files per upload"),
        ),
        Refusal::Quota(over) => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota",
            format!(
                "the company's upload quota ({}) is used up until {}",
                over.limit.as_str(),
                over.until.to_rfc3339()
            ),
        )
        .retry_after(over.retry_after(p.now())),
        Refusal::NoFiles => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "send at least one file part".into(),
        ),
        Refusal::Malformed(why) => Problem::new(StatusCode::BAD_REQUEST, "malformed", why),
        Refusal::Csrf | Refusal::NoGrant => Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this account cannot upload".into(),
        ),
        Refusal::Failed => Problem::internal("upload failed"),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "intake portal API", description = "Service requests of the signed-in customer's company."),
    modifiers(&TokenScheme)
)]
struct ApiDoc;

/// The API's routes and their OpenAPI description.
pub fn router(state: Arc<Portal>) -> (axum::Router, utoipa::openapi::OpenApi) {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(entitlements))
        .routes(routes!(list_srs, open_sr))
        .routes(routes!(get_sr))
        .routes(routes!(add_update))
        .routes(routes!(reopen))
        .merge(
            // Uploads stream under their own limits (`portal::upload`).
            OpenApiRouter::new()
                .routes(routes!(upload_new))
                .routes(routes!(upload_files))
                .routes(routes!(upload_progress))
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .split_for_parts();
    (router.with_state(state), api)
}
