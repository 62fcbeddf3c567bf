//! The portal's SR pages: the three lists, a new SR (severity beside the
//! handbook's definitions), one SR with its updates and files, adding an
//! update, reopening. Every handler asks `store::srs`, which finds only
//! what the signed-in customer may see: anything else is a `404`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::web::{Customer, PageQuery, Portal, Visit, failed, finish};
use crate::http::guard::CheckedForm;
use crate::http::page;
use crate::http::session::CsrfOnly;
use crate::sr::Severity;
use crate::store::accounts::Account;
use crate::store::srs::{self, Change, Line, NewSr, View};

/// Longest title and text a customer may write.
const TITLE_MAX: usize = 200;
pub(super) const TEXT_MAX: usize = 20_000;

fn who(a: &Account) -> minijinja::Value {
    minijinja::context! { name => a.name.clone(), email => a.email.clone() }
}

fn line_ctx(s: &Line) -> minijinja::Value {
    minijinja::context! {
        number => s.number.to_string(),
        title => s.title.clone(),
        severity => s.severity.level(),
        status => s.status.as_str(),
        opened => page::when(s.opened_at),
    }
}

/// The page of what is not there or not the visitor's to see.
pub(super) fn not_found(v: &Visit) -> Response {
    finish(
        v,
        page::message(
            StatusCode::NOT_FOUND,
            v.lang,
            &v.csrf,
            "not_found",
            "not_found_text",
        ),
    )
}

pub(super) async fn list(
    State(p): State<Arc<Portal>>,
    Customer {
        account: a,
        visit: v,
    }: Customer,
    Query(q): Query<PageQuery>,
) -> Response {
    let view = View::parse(q.view.as_deref());
    let srs = match srs::list(&p.intake.pool, &a, view).await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let ctx = minijinja::context! {
        account => who(&a),
        view => match view { View::MyOpen => "my_open", View::Mine => "mine", View::Company => "company" },
        srs => srs.iter().map(line_ctx).collect::<Vec<_>>(),
    };
    finish(&v, page::render("portal/srs.html", v.lang, &v.csrf, ctx))
}

#[derive(Deserialize, Default)]
pub(super) struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    description: String,
}

/// The problems of a new SR's form, as word keys; the SR when there are
/// none.
fn check_new(f: &NewForm) -> Result<NewSr, Vec<&'static str>> {
    check_new_sr(&f.title, &f.severity, &f.description)
}

/// Text as PostgreSQL can keep it: a NUL (which it refuses) becomes U+FFFD.
pub(super) fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The problems of a new SR (title, severity as typed, what happened), as
/// word keys; the SR when there are none. Pages and the API share it.
pub(super) fn check_new_sr(
    title: &str,
    severity: &str,
    description: &str,
) -> Result<NewSr, Vec<&'static str>> {
    // Control characters in a one-line title become spaces: a title is
    // shown in lists and subjects, never as a terminal's instructions.
    let title: String = title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let title = title.trim();
    let description = storable(description);
    let description = description.trim();
    let severity = severity.trim().parse::<u8>().ok().and_then(Severity::new);
    let mut errors = Vec::new();
    if title.is_empty() || title.chars().count() > TITLE_MAX {
        errors.push("err_title");
    }
    if description.is_empty() || description.chars().count() > TEXT_MAX {
        errors.push("err_description");
    }
    if severity.is_none() {
        errors.push("err_severity");
    }
    match (errors.is_empty(), severity) {
        (true, Some(severity)) => Ok(NewSr {
            title: title.to_owned(),
            description: description.to_owned(),
            severity,
        }),
        _ => Err(errors),
    }
}

fn new_form_page(
    a: &Account,
    v: &Visit,
    status: StatusCode,
    f: &NewForm,
    errors: Vec<String>,
) -> Response {
    let ctx = minijinja::context! {
        account => who(a),
        form => minijinja::context! {
            title => f.title.clone(),
            description => f.description.clone(),
            severity => f.severity.trim().parse::<u8>().ok(),
        },
        errors => errors,
    };
    finish(
        v,
        page::render_status(status, "portal/sr_new.html", v.lang, &v.csrf, ctx),
    )
}

pub(super) async fn new_page(
    Customer {
        account: a,
        visit: v,
    }: Customer,
) -> Response {
    new_form_page(&a, &v, StatusCode::OK, &NewForm::default(), Vec::new())
}

pub(super) async fn open(
    State(p): State<Arc<Portal>>,
    Customer {
        account: a,
        visit: v,
    }: Customer,
    CheckedForm(form): CheckedForm<NewForm>,
) -> Response {
    let new = match check_new(&form) {
        Ok(n) => n,
        Err(keys) => {
            let errors = keys.iter().map(|k| page::word(v.lang, k)).collect();
            return new_form_page(&a, &v, StatusCode::UNPROCESSABLE_ENTITY, &form, errors);
        }
    };
    match srs::open(&p.intake.pool, &a, &new, p.now()).await {
        Ok(number) => finish(
            &v,
            Redirect::to(&format!("/portal/srs/{number}")).into_response(),
        ),
        Err(e) => failed(e),
    }
}

async fn show(
    p: &Portal,
    a: &Account,
    v: &Visit,
    number: &str,
    status: StatusCode,
    notice: Option<String>,
) -> Response {
    let sr = match srs::page(&p.intake.pool, a, number).await {
        Ok(Some(sr)) => sr,
        Ok(None) => return not_found(v),
        Err(e) => return failed(e),
    };
    let updates: Vec<_> = sr
        .updates
        .iter()
        .map(|u| {
            minijinja::context! {
                at => page::when(u.at),
                direction => u.direction.clone(),
                from => u.from.clone(),
                subject => u.subject.clone(),
                body => u.body.clone(),
                files => u.files.clone(),
            }
        })
        .collect();
    let ctx = minijinja::context! {
        account => who(a),
        notice => notice,
        sr => minijinja::context! {
            number => sr.line.number.to_string(),
            title => sr.line.title.clone(),
            status => sr.line.status.as_str(),
            severity => sr.line.severity.level(),
            opened => page::when(sr.line.opened_at),
            grant_number => sr.grant_number.clone(),
            resolution => sr.resolution.clone(),
            updates => updates,
            files => minijinja::value::Value::from(minijinja::value::Serde(&sr.files)),
        },
    };
    finish(
        v,
        page::render_status(status, "portal/sr.html", v.lang, &v.csrf, ctx),
    )
}

pub(super) async fn page(
    State(p): State<Arc<Portal>>,
    Path(number): Path<String>,
    Customer {
        account: a,
        visit: v,
    }: Customer,
) -> Response {
    show(&p, &a, &v, &number, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub(super) struct UpdateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

/// The page after a change: the SR with what became of it.
async fn after(
    p: &Portal,
    a: &Account,
    v: &Visit,
    number: &str,
    change: Change,
    done: &str,
) -> Response {
    let (status, notice) = match change {
        Change::NotFound => return not_found(v),
        Change::Done => (StatusCode::OK, page::word(v.lang, done)),
        Change::Closed => (StatusCode::CONFLICT, page::word(v.lang, "closed_update")),
        Change::NotClosed => (StatusCode::CONFLICT, page::word(v.lang, "not_closed")),
        Change::TooLate { closed_at } => (
            StatusCode::CONFLICT,
            page::word(v.lang, "too_late")
                .replace("{on}", &closed_at.format("%Y-%m-%d").to_string()),
        ),
    };
    show(p, a, v, number, status, Some(notice)).await
}

pub(super) async fn update(
    State(p): State<Arc<Portal>>,
    Path(number): Path<String>,
    Customer {
        account: a,
        visit: v,
    }: Customer,
    CheckedForm(form): CheckedForm<UpdateForm>,
) -> Response {
    let text = storable(&form.text);
    let text = text.trim();
    if text.is_empty() || text.chars().count() > TEXT_MAX {
        let notice = page::word(v.lang, "err_text");
        return show(
            &p,
            &a,
            &v,
            &number,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(notice),
        )
        .await;
    }
    match srs::add_update(&p.intake.pool, &a, &number, text, p.now()).await {
        Ok(change) => after(&p, &a, &v, &number, change, "update_added").await,
        Err(e) => failed(e),
    }
}

pub(super) async fn reopen(
    State(p): State<Arc<Portal>>,
    Path(number): Path<String>,
    Customer {
        account: a,
        visit: v,
    }: Customer,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> Response {
    match srs::reopen(&p.intake.pool, &a, &number, p.now()).await {
        Ok(change) => after(&p, &a, &v, &number, change, "reopened").await,
        Err(e) => failed(e),
    }
}

crate::http::guard::csrf_field!(NewForm, UpdateForm);

#[cfg(test)]
mod tests {
    use super::*;

    fn form(title: &str, severity: &str, description: &str) -> NewForm {
        NewForm {
            csrf: String::new(),
            title: title.into(),
            severity: severity.into(),
            description: description.into(),
        }
    }

    #[test]
    fn a_new_sr_needs_a_title_a_severity_and_what_happened() {
        let ok = check_new(&form(" Pop-ups ", "2", " They keep coming "));
        assert_eq!(
            ok,
            Ok(NewSr {
                title: "Pop-ups".into(),
                description: "They keep coming".into(),
                severity: Severity::HIGH,
            })
        );
        assert_eq!(
            check_new(&form("", "0", "")),
            Err(vec!["err_title", "err_description", "err_severity"])
        );
        assert_eq!(check_new(&form("x", "6", "y")), Err(vec!["err_severity"]));
        assert_eq!(
            check_new(&form(&"t".repeat(201), "1", "y")),
            Err(vec!["err_title"])
        );
        // Control characters in a title become spaces; a NUL in the text
        // becomes U+FFFD (PostgreSQL keeps no NUL).
        assert_eq!(
            check_new(&form("a\u{7}b", "1", "y")).map(|n| n.title),
            Ok("a b".to_owned())
        );
        assert_eq!(
            check_new(&form("t", "1", "a\0b")).map(|n| n.description),
            Ok("a\u{FFFD}b".to_owned())
        );
    }
}
