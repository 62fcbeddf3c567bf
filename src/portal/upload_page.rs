//! The upload pages: the form (a new SR, or files for one the customer can
//! see) and its result — the outcome, the samples with their SHA-256 and
//! kind, what was refused with what to send instead, the facts still
//! missing. Limits and quota answer `413` and `429` pages before the body
//! is read.

use std::sync::Arc;

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::srs::not_found;
use super::upload::{self, Refusal, Sender};
use super::web::{Customer, Portal, Visit, finish};
use crate::http::{guard, page};
use crate::store::accounts::Account;
use crate::store::srs;

fn who(a: &Account) -> minijinja::Value {
    minijinja::context! { name => a.name.clone(), email => a.email.clone() }
}

/// The form, for a new SR or for `sr`.
fn form(a: &Account, v: &Visit, sr: Option<&str>) -> Response {
    let ctx = minijinja::context! {
        account => who(a),
        sr => sr,
        fields => upload::form_fields(),
        grant_number => a.grant_number.clone(),
    };
    finish(v, page::render("portal/upload.html", v.lang, &v.csrf, ctx))
}

pub(super) async fn new_page(Customer { account, visit }: Customer) -> Response {
    form(&account, &visit, None)
}

pub(super) async fn sr_page(
    State(p): State<Arc<Portal>>,
    Path(number): Path<String>,
    Customer { account, visit }: Customer,
) -> Response {
    match srs::visible(&p.intake.pool, &account, &number).await {
        Ok(Some(line)) => form(&account, &visit, Some(&line.number.to_string())),
        Ok(None) => not_found(&visit),
        Err(e) => super::web::failed(e),
    }
}

pub(super) async fn new_upload(
    State(p): State<Arc<Portal>>,
    Customer { account, visit }: Customer,
    headers: HeaderMap,
    body: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    take(&p, &account, &visit, &headers, None, body).await
}

pub(super) async fn sr_upload(
    State(p): State<Arc<Portal>>,
    Path(number): Path<String>,
    Customer { account, visit }: Customer,
    headers: HeaderMap,
    body: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    match srs::visible(&p.intake.pool, &account, &number).await {
        Ok(Some(line)) => take(&p, &account, &visit, &headers, Some(line.number), body).await,
        Ok(None) => not_found(&visit),
        Err(e) => super::web::failed(e),
    }
}

async fn take(
    p: &Portal,
    a: &Account,
    v: &Visit,
    headers: &HeaderMap,
    sr: Option<crate::sr::SrNumber>,
    body: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    // Without its cookie a post is refused before its body is read.
    let Some(cookie) = guard::cookie(headers, guard::CSRF_COOKIE) else {
        return refused(p, v, Refusal::Csrf);
    };
    if let Err(r) = upload::admit(p, a, headers).await {
        return refused(p, v, r);
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => return refused(p, v, Refusal::Malformed(e.body_text())),
    };
    let sender = Sender {
        account: a,
        sr,
        csrf_cookie: Some(cookie),
        key: None,
    };
    let taken = match upload::receive_body(p, sender, body).await {
        Ok(r) => upload::record(p, r).await,
        Err(e) => Err(e),
    };
    match taken {
        Ok(done) => {
            let (samples, rejected, missing) = upload::views(&done);
            let ctx = minijinja::context! {
                account => who(a),
                sr => done.sr.to_string(),
                outcome => done.report.outcome.as_str(),
                samples => minijinja::Value::from(minijinja::value::Serde(&samples)),
                rejected => minijinja::Value::from(minijinja::value::Serde(&rejected)),
                missing => missing,
            };
            finish(
                v,
                page::render("portal/uploaded.html", v.lang, &v.csrf, ctx),
            )
        }
        Err(r) => refused(p, v, r),
    }
}

/// The page of a refused upload, in the customer's language.
fn refused(p: &Portal, v: &Visit, r: Refusal) -> Response {
    let r = r.counted(p);
    let (status, text) = match &r {
        Refusal::TooLarge { max } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            page::word(v.lang, "upload_too_large").replace("{max}", &mebibytes(*max)),
        ),
        Refusal::TooManyFiles { max } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            page::word(v.lang, "upload_too_many").replace("{max}", &max.to_string()),
        ),
        Refusal::Quota(over) => (
            StatusCode::TOO_MANY_REQUESTS,
            page::word(v.lang, "upload_quota").replace("{at}", &page::when(over.until)),
        ),
        Refusal::NoFiles => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page::word(v.lang, "upload_no_files"),
        ),
        Refusal::Malformed(why) => (
            StatusCode::BAD_REQUEST,
            format!("{} ({why})", page::word(v.lang, "upload_malformed")),
        ),
        Refusal::Csrf => (StatusCode::FORBIDDEN, page::word(v.lang, "form_expired")),
        Refusal::NoGrant => (StatusCode::FORBIDDEN, page::word(v.lang, "upload_no_grant")),
        Refusal::Failed => (
            StatusCode::INTERNAL_SERVER_ERROR,
            page::word(v.lang, "failed"),
        ),
    };
    let mut res = finish(
        v,
        page::message_text(status, v.lang, &v.csrf, "upload_refused", &text),
    );
    if let Refusal::Quota(over) = r
        && let Ok(h) = HeaderValue::from_str(&over.retry_after(p.now()).to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, h);
    }
    res
}

/// `max` bytes as whole MiB, for people.
pub(super) fn mebibytes(max: u64) -> String {
    format!("{} MiB", max >> 20)
}
