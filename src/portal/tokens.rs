//! The portal's API-token page: make a named token (its secret shown this
//! once), list the live ones with when they were last used, revoke one.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::web::{Customer, Portal, Visit, failed, finish};
use crate::http::guard::CheckedForm;
use crate::http::page;
use crate::http::session::CsrfOnly;
use crate::store::accounts::{self, Account};

async fn render(
    p: &Portal,
    a: &Account,
    v: &Visit,
    status: StatusCode,
    secret: Option<String>,
    notice: Option<String>,
) -> Response {
    let tokens = match accounts::tokens(&p.intake.pool, a.id).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let rows: Vec<_> = tokens
        .iter()
        .map(|t| {
            minijinja::context! {
                id => t.id,
                name => t.name.clone(),
                created => page::when(t.created_at),
                used => t.last_used_at.map(page::when),
            }
        })
        .collect();
    let ctx = minijinja::context! {
        account => minijinja::context! { name => a.name.clone(), email => a.email.clone() },
        tokens => rows,
        secret => secret,
        notice => notice,
    };
    finish(
        v,
        page::render_status(status, "portal/tokens.html", v.lang, &v.csrf, ctx),
    )
}

pub(super) async fn page(
    State(p): State<Arc<Portal>>,
    Customer { account, visit }: Customer,
) -> Response {
    render(&p, &account, &visit, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub(super) struct NewToken {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub(super) async fn create(
    State(p): State<Arc<Portal>>,
    Customer { account, visit }: Customer,
    CheckedForm(form): CheckedForm<NewToken>,
) -> Response {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        let notice = page::word(visit.lang, "err_token_name");
        return render(
            &p,
            &account,
            &visit,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(notice),
        )
        .await;
    }
    match accounts::create_token(&p.intake.pool, account.id, name, p.now()).await {
        Ok(Some(secret)) => {
            render(
                &p,
                &account,
                &visit,
                StatusCode::OK,
                Some(secret.as_str().to_owned()),
                None,
            )
            .await
        }
        Ok(None) => {
            let notice = page::word(visit.lang, "too_many_tokens");
            render(
                &p,
                &account,
                &visit,
                StatusCode::CONFLICT,
                None,
                Some(notice),
            )
            .await
        }
        Err(e) => failed(e),
    }
}

pub(super) async fn revoke(
    State(p): State<Arc<Portal>>,
    Path(id): Path<i64>,
    Customer { account, visit }: Customer,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> Response {
    match accounts::revoke_token(&p.intake.pool, account.id, id, p.now()).await {
        Ok(true) => {
            let notice = page::word(visit.lang, "token_revoked");
            render(&p, &account, &visit, StatusCode::OK, None, Some(notice)).await
        }
        Ok(false) => finish(
            &visit,
            page::message(
                StatusCode::NOT_FOUND,
                visit.lang,
                &visit.csrf,
                "not_found",
                "not_found_text",
            ),
        ),
        Err(e) => failed(e),
    }
}

crate::http::guard::csrf_field!(NewToken);
