//! Mails about a portal account rather than an SR: the confirmation link,
//! the password-reset link, and the note that an address already has an
//! account (sent instead of a second sign-up, so the sign-up page never
//! tells whether an address exists).

use serde::{Deserialize, Serialize};

use super::TemplateError;
use super::templates::render_named;
use crate::sr::Lang;

/// Which account mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountMailKind {
    Confirm,
    Reset,
    Exists,
}

impl AccountMailKind {
    fn template(self) -> &'static str {
        match self {
            AccountMailKind::Confirm => "account_confirm",
            AccountMailKind::Reset => "account_reset",
            AccountMailKind::Exists => "account_exists",
        }
    }
}

/// A composed account mail, as the outbox keeps it until it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMail {
    pub account_mail: AccountMailKind,
    pub to: String,
    pub lang: Lang,
    pub subject: String,
    pub body: String,
}

/// Composes `kind` to `to`, carrying `link`.
pub fn compose_account(
    kind: AccountMailKind,
    to: &str,
    name: &str,
    lang: Lang,
    link: &str,
    vendor: &str,
) -> Result<AccountMail, TemplateError> {
    let ctx = minijinja::context! { name => name, link => link, vendor => vendor };
    let (subject, body) = render_named(lang, kind.template(), ctx)?;
    Ok(AccountMail {
        account_mail: kind,
        to: to.to_owned(),
        lang,
        subject,
        body,
    })
}
