//! The portal's pages over HTTP, under `/portal/`: sign-up, the mailed
//! confirmation and reset links, sign-in and sign-out, and the signed-in
//! home with the company's entitlements. Every form post is a
//! [`CheckedForm`]; every answer about an address is the same whether or
//! not it has an account.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::upload::UploadConfig;
use crate::account::password;
use crate::account::token::Secret;
use crate::account::{self, Backoff, LinkPurpose, Realm, Refusal, SignUp};
use crate::answer::{self, AccountMail, AccountMailKind, TemplateError};
use crate::http::guard::{self, CheckedForm};
use crate::http::page;
use crate::http::session::{self, CsrfOnly, SignInForm};
use crate::ingest::Intake;
use crate::sr::Lang;
use crate::store::accounts::{self, Account, AccountError, LinkUse};

/// The session cookie of the customer realm (staff have their own).
pub const SESSION_COOKIE: &str = session::CUSTOMERS.cookie;

/// What the portal's handlers share.
#[derive(Clone)]
pub struct Portal {
    /// The ingest path uploads take; its database, blob store and clock
    /// are the portal's.
    pub intake: Intake,
    pub uploads: UploadConfig,
    /// How customers reach the portal (`https://support.example`), for the
    /// links it mails; cookies are `Secure` when it is `https`.
    pub public_url: String,
    pub vendor: String,
    pub backoff: Backoff,
    /// Proxies whose `X-Forwarded-For` is believed (see `http::guard`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Portal {
    fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.intake.clock.now()
    }

    fn link(&self, path: &str, secret: Option<&Secret>) -> String {
        let base = self.public_url.trim_end_matches('/');
        match secret {
            Some(s) => format!("{base}/portal/{path}?token={}", s.as_str()),
            None => format!("{base}/portal/{path}"),
        }
    }

    /// The composer of account mails with links to `path`.
    fn mail<'a>(
        &'a self,
        to: &'a str,
        path: &'a str,
    ) -> impl FnOnce(
        AccountMailKind,
        &str,
        Lang,
        Option<&Secret>,
    ) -> Result<AccountMail, TemplateError>
    + 'a {
        move |kind, name, lang, secret| {
            let link = match kind {
                AccountMailKind::Exists => self.link("sign-in", None),
                _ => self.link(path, secret),
            };
            answer::compose_account(kind, to, name, lang, &link, &self.vendor)
        }
    }
}

/// The pages' routes, and their paths as they were declared: tests walk
/// every path (with another company's ids) so a page added without its
/// check fails them.
struct Pages {
    router: Router<Arc<Portal>>,
    paths: Vec<&'static str>,
}

impl Pages {
    fn route(mut self, path: &'static str, method: MethodRouter<Arc<Portal>>) -> Pages {
        self.paths.push(path);
        self.router = self.router.route(path, method);
        self
    }
}

fn pages() -> Pages {
    let uploads = DefaultBodyLimit::disable();
    Pages {
        router: Router::new(),
        paths: Vec::new(),
    }
    .route("/portal/", get(home))
    .route("/portal", get(|| async { Redirect::to("/portal/") }))
    .route("/portal/sign-up", get(sign_up_page).post(sign_up))
    .route("/portal/confirm", get(confirm_page).post(confirm))
    .route("/portal/sign-in", get(sign_in_page).post(sign_in))
    .route("/portal/sign-out", post(sign_out))
    .route("/portal/forgot", get(forgot_page).post(forgot))
    .route("/portal/reset", get(reset_page).post(reset))
    .route("/portal/srs", get(super::srs::list))
    .route(
        "/portal/srs/new",
        get(super::srs::new_page).post(super::srs::open),
    )
    .route("/portal/srs/{number}", get(super::srs::page))
    .route("/portal/srs/{number}/update", post(super::srs::update))
    .route("/portal/srs/{number}/reopen", post(super::srs::reopen))
    .route(
        "/portal/upload",
        get(super::upload_page::new_page)
            .post(super::upload_page::new_upload)
            .layer(uploads),
    )
    .route(
        "/portal/srs/{number}/files",
        get(super::upload_page::sr_page)
            .post(super::upload_page::sr_upload)
            .layer(uploads),
    )
    .route(
        "/portal/tokens",
        get(super::tokens::page).post(super::tokens::create),
    )
    .route("/portal/tokens/{id}/revoke", post(super::tokens::revoke))
}

/// Every page's path, as declared (`{number}`, `{id}` for ids).
pub fn page_paths() -> Vec<&'static str> {
    pages().paths
}

/// The portal's routes.
pub fn router(state: Portal) -> Router {
    let state = Arc::new(state);
    let (api, doc) = super::api::router(state.clone());
    let api = crate::http::problem::described(api, "/api/openapi.json", doc);
    pages().router.with_state(state).merge(api)
}

pub(super) use crate::http::page::{Visit, finish};

#[derive(Deserialize, Default)]
pub(super) struct PageQuery {
    pub(super) lang: Option<String>,
    token: Option<String>,
    /// The list a page shows.
    pub(super) view: Option<String>,
}

pub(super) fn visit(p: &Portal, headers: &HeaderMap, q: &PageQuery) -> Visit {
    Visit::new(headers, q.lang.as_deref(), p.secure())
}

/// A failure of ours: logged, and a plain 500 page.
pub(super) fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "portal");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "something went wrong on our side; try again later\n",
    )
        .into_response()
}

/// An Argon2id hash of `pw`, made on a blocking thread; a failure is our
/// 500 page.
async fn hashed(pw: &str) -> Result<String, Response> {
    let pw = pw.to_owned();
    match tokio::task::spawn_blocking(move || password::hash(&pw)).await {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(failed(e)),
        Err(e) => Err(failed(e)),
    }
}

/// The signed-in customer, if the request carries a live session.
pub(super) async fn signed_in(
    p: &Portal,
    headers: &HeaderMap,
) -> Result<Option<Account>, AccountError> {
    session::signed_in(&p.intake.pool, &session::CUSTOMERS, headers, p.now()).await
}

/// The signed-in customer and the page visit (in the account's language).
/// Everyone else is sent to sign in, before any handler runs: a handler
/// that takes this cannot forget to check.
pub(super) struct Customer {
    pub(super) account: Account,
    pub(super) visit: Visit,
}

impl FromRequestParts<Arc<Portal>> for Customer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, p: &Arc<Portal>) -> Result<Self, Response> {
        match signed_in(p, &parts.headers).await {
            Ok(Some(account)) => {
                let mut visit = visit(p, &parts.headers, &PageQuery::default());
                visit.lang = account.lang;
                Ok(Customer { account, visit })
            }
            Ok(None) => Err(Redirect::to("/portal/sign-in").into_response()),
            Err(e) => Err(failed(e)),
        }
    }
}

async fn home(
    State(p): State<Arc<Portal>>,
    Customer {
        account: a,
        visit: v,
    }: Customer,
) -> Response {
    let grants = match &a.grant_number {
        Some(g) => match accounts::company_grants(&p.intake.pool, g).await {
            Ok(g) => g,
            Err(e) => return failed(e),
        },
        None => Vec::new(),
    };
    let today = p.now().date_naive();
    let rows: Vec<_> = grants
        .iter()
        .map(|g| {
            minijinja::context! {
                number => g.grant_number.clone(),
                company => g.company.clone(),
                level => g.support_level.clone(),
                expires => g.expires_on.map(|d| d.to_string()),
                expired => g.expires_on.is_some_and(|d| d < today),
            }
        })
        .collect();
    let ctx = minijinja::context! {
        account => minijinja::context! { name => a.name.clone(), email => a.email.clone() },
        grants => rows,
    };
    finish(&v, page::render("portal/home.html", v.lang, &v.csrf, ctx))
}

#[derive(Deserialize)]
struct SignUpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    grant_number: String,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    password: String,
}

fn sign_up_form_page(
    v: &Visit,
    status: StatusCode,
    form: &SignUpForm,
    errors: Vec<String>,
) -> Response {
    let ctx = minijinja::context! {
        form => minijinja::context! {
            name => form.name.clone(), email => form.email.clone(), grant_number => form.grant_number.clone(),
        },
        errors => errors,
    };
    finish(
        v,
        page::render_status(status, "portal/sign_up.html", v.lang, &v.csrf, ctx),
    )
}

async fn sign_up_page(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let v = visit(&p, &headers, &q);
    let empty = SignUpForm {
        csrf: String::new(),
        name: String::new(),
        email: String::new(),
        grant_number: String::new(),
        lang: None,
        password: String::new(),
    };
    sign_up_form_page(&v, StatusCode::OK, &empty, Vec::new())
}

/// What a refused sign-up is told, in its language.
fn refusal_text(lang: Lang, r: &Refusal) -> String {
    match r {
        Refusal::Name => page::word(lang, "err_name"),
        Refusal::Email => page::word(lang, "err_email"),
        Refusal::Password(problems) => format!(
            "{} {}",
            page::word(lang, "err_password"),
            problems
                .iter()
                .map(|x| page::word(lang, &format!("pw_{}", x.key())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Refusal::UnknownGrant(g) => page::word(lang, "err_unknown_grant").replace("{grant}", g),
        Refusal::GrantExpired { grant, on } => page::word(lang, "err_grant_expired")
            .replace("{grant}", grant)
            .replace("{on}", &on.to_string()),
        Refusal::DomainNotRegistered { domain } => {
            page::word(lang, "err_domain").replace("{domain}", domain)
        }
    }
}

async fn sign_up(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<SignUpForm>,
) -> Response {
    let mut v = visit(&p, &headers, &PageQuery::default());
    let chosen = form.lang.as_deref().and_then(Lang::from_code);
    if let Some(l) = chosen {
        v.lang = l;
    }
    let grant = match crate::store::grants::find(&p.intake.pool, &form.grant_number).await {
        Ok(g) => g,
        Err(e) => return failed(e),
    };
    let su = SignUp {
        name: form.name.clone(),
        email: form.email.clone(),
        grant_number: form.grant_number.clone(),
        lang: chosen,
        password: form.password.clone(),
    };
    let accepted = match account::check_sign_up(&su, grant.as_ref(), p.now().date_naive()) {
        Ok(a) => a,
        Err(r) => {
            let text = refusal_text(v.lang, &r);
            return sign_up_form_page(&v, StatusCode::UNPROCESSABLE_ENTITY, &form, vec![text]);
        }
    };
    let hash = match hashed(&form.password).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let to = accepted.email.clone();
    if let Err(e) = accounts::sign_up(
        &p.intake.pool,
        &accepted,
        &hash,
        p.now(),
        p.mail(&to, "confirm"),
    )
    .await
    {
        return failed(e);
    }
    finish(
        &v,
        page::message(
            StatusCode::OK,
            v.lang,
            &v.csrf,
            "check_mail",
            "check_mail_text",
        ),
    )
}

/// The page for a link that cannot be used.
fn bad_link(v: &Visit, judged: &LinkUse) -> Option<Response> {
    let (title, text, status) = match judged {
        LinkUse::Valid(_) => return None,
        LinkUse::Used => ("link_used", "link_used_text", StatusCode::GONE),
        LinkUse::Expired => ("link_expired", "link_expired_text", StatusCode::GONE),
        LinkUse::Unknown => ("link_unknown", "link_unknown_text", StatusCode::NOT_FOUND),
        LinkUse::DomainTaken => ("domain_taken", "domain_taken_text", StatusCode::FORBIDDEN),
        LinkUse::WrongPassword => (
            "confirm_password_wrong",
            "confirm_password_wrong_text",
            StatusCode::FORBIDDEN,
        ),
    };
    Some(finish(
        v,
        page::message(status, v.lang, &v.csrf, title, text),
    ))
}

/// Shows the button that spends a link: a GET never spends one, so a mail
/// scanner that follows links does not use them up.
async fn link_page(
    p: &Portal,
    headers: &HeaderMap,
    q: &PageQuery,
    purpose: LinkPurpose,
    template: &str,
) -> Response {
    let mut v = visit(p, headers, q);
    let token = q.token.clone().unwrap_or_default();
    let judged = match accounts::peek_link(&p.intake.pool, &token, purpose, p.now()).await {
        Ok(j) => j,
        Err(e) => return failed(e),
    };
    if let LinkUse::Valid(a) = &judged {
        v.lang = a.lang;
    }
    if let Some(r) = bad_link(&v, &judged) {
        return r;
    }
    let ctx = minijinja::context! { token => token, errors => Vec::<String>::new() };
    finish(&v, page::render(template, v.lang, &v.csrf, ctx))
}

async fn confirm_page(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    link_page(
        &p,
        &headers,
        &q,
        LinkPurpose::Confirm,
        "portal/confirm.html",
    )
    .await
}

/// The form a mailed link leads to: the link's token and a password (the
/// sign-up's, to confirm; a new one, to reset).
#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn confirm(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<LinkForm>,
) -> Response {
    let mut v = visit(&p, &headers, &PageQuery::default());
    let judged = match accounts::confirm(&p.intake.pool, &form.token, &form.password, p.now()).await
    {
        Ok(j) => j,
        Err(e) => return failed(e),
    };
    if let LinkUse::Valid(a) = &judged {
        v.lang = a.lang;
    }
    bad_link(&v, &judged).unwrap_or_else(|| {
        finish(
            &v,
            page::message(
                StatusCode::OK,
                v.lang,
                &v.csrf,
                "confirmed",
                "confirmed_text",
            ),
        )
    })
}

fn sign_in_form(
    v: &Visit,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    until: Option<DateTime<Utc>>,
) -> Response {
    session::form(&session::CUSTOMERS, v, status, email, error, until)
}

async fn sign_in_page(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let v = visit(&p, &headers, &q);
    sign_in_form(&v, StatusCode::OK, "", None, None)
}

async fn sign_in(
    State(p): State<Arc<Portal>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<SignInForm>,
) -> Response {
    let v = visit(&p, &headers, &PageQuery::default());
    let address = guard::client_address(peer.ip(), &headers, &p.trusted_proxies).to_string();
    session::answer(
        &p.intake.pool,
        &session::CUSTOMERS,
        &v,
        &form.email,
        &form.password,
        &address,
        p.now(),
        &p.backoff,
        p.secure(),
    )
    .await
    .unwrap_or_else(failed)
}

async fn sign_out(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> Response {
    let v = visit(&p, &headers, &PageQuery::default());
    let said = page::message(
        StatusCode::OK,
        v.lang,
        &v.csrf,
        "signed_out",
        "signed_out_text",
    );
    match session::leave(
        &p.intake.pool,
        &session::CUSTOMERS,
        &headers,
        p.secure(),
        said,
    )
    .await
    {
        Ok(res) => finish(&v, res),
        Err(e) => failed(e),
    }
}

async fn forgot_page(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let v = visit(&p, &headers, &q);
    finish(
        &v,
        page::render(
            "portal/forgot.html",
            v.lang,
            &v.csrf,
            minijinja::context! {},
        ),
    )
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

async fn forgot(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<ForgotForm>,
) -> Response {
    let v = visit(&p, &headers, &PageQuery::default());
    if let Some(email) = account::normalise_email(&form.email)
        && let Err(e) = accounts::forgot(
            &p.intake.pool,
            Realm::Customer,
            &email,
            p.now(),
            p.mail(&email, "reset"),
        )
        .await
    {
        return failed(e);
    }
    // The same page whether or not the address has an account.
    finish(
        &v,
        page::message(
            StatusCode::OK,
            v.lang,
            &v.csrf,
            "reset_sent",
            "reset_sent_text",
        ),
    )
}

async fn reset_page(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    link_page(&p, &headers, &q, LinkPurpose::Reset, "portal/reset.html").await
}

async fn reset(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<LinkForm>,
) -> Response {
    let v = visit(&p, &headers, &PageQuery::default());
    if let Err(problems) = password::check(&form.password) {
        let text = refusal_text(v.lang, &Refusal::Password(problems));
        let ctx = minijinja::context! { token => form.token.clone(), errors => vec![text] };
        return finish(
            &v,
            page::render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "portal/reset.html",
                v.lang,
                &v.csrf,
                ctx,
            ),
        );
    }
    let hash = match hashed(&form.password).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let judged = match accounts::reset(&p.intake.pool, &form.token, &hash, p.now()).await {
        Ok(j) => j,
        Err(e) => return failed(e),
    };
    bad_link(&v, &judged).unwrap_or_else(|| {
        finish(
            &v,
            page::message(
                StatusCode::OK,
                v.lang,
                &v.csrf,
                "password_set",
                "password_set_text",
            ),
        )
    })
}

crate::http::guard::csrf_field!(SignUpForm, LinkForm, ForgotForm);

// Keeps the problem keys and the words in step (see `text.toml`).

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::PasswordProblem;

    #[test]
    fn every_refusal_has_words_in_both_languages() {
        let all = [
            Refusal::Name,
            Refusal::Email,
            Refusal::Password(vec![
                PasswordProblem::TooShort,
                PasswordProblem::TooLong,
                PasswordProblem::NoUpper,
                PasswordProblem::NoDigit,
                PasswordProblem::NoSpecial,
            ]),
            Refusal::UnknownGrant("G-9".into()),
            Refusal::GrantExpired {
                grant: "G-1".into(),
                on: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            },
            Refusal::DomainNotRegistered {
                domain: "evil.example".into(),
            },
        ];
        for lang in [Lang::En, Lang::Zh] {
            for r in &all {
                let t = refusal_text(lang, r);
                assert!(
                    !t.contains("err_") && !t.contains("pw_") && !t.contains('{'),
                    "{t}"
                );
            }
        }
        assert!(refusal_text(Lang::Zh, &all[3]).contains("G-9"));
    }
}
