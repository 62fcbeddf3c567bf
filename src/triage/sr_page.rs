//! The SR page under `/triage/sr/{number}`: everything about the SR
//! ([`super::dossier`]) with a form per action of the handbook, each a
//! CSRF-checked post to `/triage/sr/{number}/act` that becomes one
//! [`Act`]; the sample download (an encrypted zip, as an attachment only);
//! the detection packages; and the outbreak queue `/triage/outbreaks`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::web::{Desk, Pairs, Staff, failed};
use super::{Act, By, TriageError, dossier, outbreak};
use crate::digest::Sha256;
use crate::http::guard::CheckedForm;
use crate::http::page::{self, Visit, finish};
use crate::sr::SrNumber;
use crate::store::accounts::Account;

pub(super) fn routes() -> Router<Arc<Desk>> {
    Router::new()
        .route("/triage/sr/{number}", get(sr_page))
        .route("/triage/sr/{number}/act", post(act))
        .route("/triage/sr/{number}/sample/{sha256}", get(download))
        .route("/triage/sr/{number}/package/{id}", get(package))
        .route("/triage/outbreaks", get(outbreaks))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such service request\n").into_response()
}

#[derive(Deserialize, Default)]
struct Said {
    done: Option<String>,
}

async fn sr_page(
    State(d): State<Arc<Desk>>,
    Staff { account, visit }: Staff,
    Path(number): Path<String>,
    Query(said): Query<Said>,
) -> Response {
    let Ok(sr) = number.parse::<SrNumber>() else {
        return not_found();
    };
    // Only our own words come back from the URL: an action's name.
    let done = said
        .done
        .and_then(|a| Act::NAMES.into_iter().find(|n| *n == a))
        .map(|a| format!("{a}: done"));
    show(&d, &account, &visit, &sr, StatusCode::OK, None, done).await
}

/// The page of `sr`, with `error` (why an action was refused) or `done`.
async fn show(
    d: &Arc<Desk>,
    account: &Account,
    v: &Visit,
    sr: &SrNumber,
    status: StatusCode,
    error: Option<String>,
    done: Option<String>,
) -> Response {
    let now = d.now();
    let got = tokio::try_join!(dossier::read(&d.intake, sr, now), async {
        crate::store::staff::list(&d.intake.pool)
            .await
            .map_err(|e| TriageError::Inconsistent(e.to_string()))
    });
    let (found, staff) = match got {
        Ok(x) => x,
        Err(e) => return failed(e),
    };
    let Some(dossier) = found else {
        return not_found();
    };
    let members: Vec<_> = staff
        .iter()
        .filter(|m| m.disabled_at.is_none())
        .map(|m| minijinja::context! { email => m.email.clone(), name => m.name.clone() })
        .collect();
    let ctx = minijinja::context! {
        account => minijinja::context! { name => account.name.clone() },
        sr => minijinja::Value::from(minijinja::value::Serde(&dossier)),
        members => members,
        error => error,
        done => done,
    };
    finish(
        v,
        page::render_status(status, "triage/sr.html", v.lang, &v.csrf, ctx),
    )
}

async fn act(
    State(d): State<Arc<Desk>>,
    Staff { account, visit }: Staff,
    Path(number): Path<String>,
    CheckedForm(form): CheckedForm<Pairs>,
) -> Response {
    let Ok(sr) = number.parse::<SrNumber>() else {
        return not_found();
    };
    let name = form.get("action").unwrap_or("");
    let what = match Act::parse(name, |k| form.get(k)) {
        Ok(a) => a,
        Err(why) => {
            let s = StatusCode::UNPROCESSABLE_ENTITY;
            return show(&d, &account, &visit, &sr, s, Some(why), None).await;
        }
    };
    let by = By {
        actor: &account.email,
        now: d.now(),
    };
    let span =
        tracing::info_span!("staff_action", sr = %sr, action = what.name(), by = %account.email);
    let done = tracing::Instrument::instrument(super::act(&d.intake, &sr, &what, by), span).await;
    match done {
        Ok(_) => Redirect::to(&format!("/triage/sr/{sr}?done={}", what.name())).into_response(),
        Err(TriageError::NoSuchSr(_)) => not_found(),
        Err(
            e @ (TriageError::Refused(_)
            | TriageError::NotInSr { .. }
            | TriageError::NoSuchStaff(_)),
        ) => {
            let s = StatusCode::CONFLICT;
            show(&d, &account, &visit, &sr, s, Some(e.to_string()), None).await
        }
        Err(e) => failed(e),
    }
}

/// The response carrying `body` as a download named `name`: never shown
/// inline, never sniffed.
pub(super) fn attachment(body: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
    res
}

async fn download(
    State(d): State<Arc<Desk>>,
    Staff { account, .. }: Staff,
    Path((number, sha256)): Path<(String, String)>,
) -> Response {
    let (Ok(sr), Ok(sha256)) = (number.parse::<SrNumber>(), sha256.parse::<Sha256>()) else {
        return not_found();
    };
    let by = By {
        actor: &account.email,
        now: d.now(),
    };
    match super::sample::download(&d.intake, &sr, &sha256, by).await {
        Ok(zip) => attachment(zip, "application/zip", &format!("{sha256}.zip")),
        Err(TriageError::NoSuchSr(_) | TriageError::NotInSr { .. }) => not_found(),
        Err(e) => failed(e),
    }
}

async fn package(
    State(d): State<Arc<Desk>>,
    Staff { .. }: Staff,
    Path((number, id)): Path<(String, String)>,
) -> Response {
    let (Ok(sr), Ok(id)) = (number.parse::<SrNumber>(), id.parse::<i64>()) else {
        return not_found();
    };
    let found: Result<Option<(String, String)>, _> = sqlx::query_as(
        "SELECT p.rule_name, p.rule FROM detection_packages p
         JOIN service_requests sr ON sr.id = p.sr_id
         WHERE p.id = $1 AND sr.sr_number = $2",
    )
    .bind(id)
    .bind(sr.to_string())
    .fetch_optional(&d.intake.pool)
    .await;
    match found {
        Ok(Some((name, rule))) => attachment(
            rule.into_bytes(),
            "text/plain; charset=utf-8",
            &format!("{name}.yar"),
        ),
        Ok(None) => not_found(),
        Err(e) => failed(e),
    }
}

async fn outbreaks(State(d): State<Arc<Desk>>, Staff { account, visit: v }: Staff) -> Response {
    let list = match outbreak::queue(&d.intake.pool, d.outbreak).await {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let ctx = minijinja::context! {
        account => minijinja::context! { name => account.name.clone() },
        outbreaks => minijinja::Value::from(minijinja::value::Serde(&list)),
        threshold => minijinja::Value::from(minijinja::value::Serde(d.outbreak)),
    };
    finish(
        &v,
        page::render("triage/outbreaks.html", v.lang, &v.csrf, ctx),
    )
}
