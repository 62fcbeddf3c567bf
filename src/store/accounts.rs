//! Accounts, their mailed single-use links, sessions and failed sign-ins,
//! in PostgreSQL. The rules (password, domain, back-off) are
//! `account`'s; this file only keeps what they decide, each change in one
//! transaction with the mail it sends (through the outbox).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use crate::account::password::{self, PasswordError};
use crate::account::token::{self, RandomnessError, Secret};
use crate::account::{Accepted, Backoff, LinkPurpose, Realm, SESSION_LIFETIME};
use crate::answer::{AccountMail, AccountMailKind, TemplateError};
use crate::sr::{Grant, Lang, entitled};
use crate::store::grants::GrantRow;
use crate::store::outbox::OutboxKind;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("password check did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
}

/// A signed-in (or signing-in) account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub realm: Realm,
    pub email: String,
    pub name: String,
    /// A customer's grant.
    pub grant_number: Option<String>,
    pub lang: Lang,
}

type AccountRow = (i64, String, String, String, Option<String>, String);

fn account(row: AccountRow) -> Result<Account, AccountError> {
    let (id, realm, email, name, grant_number, lang) = row;
    let realm = match realm.as_str() {
        "customer" => Realm::Customer,
        "staff" => Realm::Staff,
        other => return Err(AccountError::Inconsistent(format!("realm {other:?}"))),
    };
    Ok(Account {
        id,
        realm,
        email,
        name,
        grant_number,
        lang: Lang::from_code(&lang).unwrap_or(Lang::En),
    })
}

/// Composes the mail a change sends: its kind, the addressee's name and
/// language, and the link it carries (`None`: the sign-in page).
pub trait Composer:
    FnOnce(AccountMailKind, &str, Lang, Option<&Secret>) -> Result<AccountMail, TemplateError>
{
}
impl<F> Composer for F where
    F: FnOnce(AccountMailKind, &str, Lang, Option<&Secret>) -> Result<AccountMail, TemplateError>
{
}

async fn queue_mail(
    tx: &mut Transaction<'_, Postgres>,
    mail: &AccountMail,
) -> Result<(), AccountError> {
    sqlx::query("INSERT INTO outbox (kind, routing_key, priority, payload) VALUES ($1, '', 0, $2)")
        .bind(OutboxKind::MailAnswer.as_str())
        .bind(sqlx::types::Json(mail))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn new_link(
    tx: &mut Transaction<'_, Postgres>,
    account_id: i64,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<Secret, AccountError> {
    let secret = Secret::generate()?;
    sqlx::query(
        "INSERT INTO account_links (token_sha256, account_id, purpose, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(secret.digest().to_hex())
    .bind(account_id)
    .bind(purpose.as_str())
    .bind(now)
    .bind(now + purpose.valid_for())
    .execute(&mut **tx)
    .await?;
    Ok(secret)
}

/// Stores a checked customer sign-up and mails its confirmation link. An
/// address that already has a confirmed account is mailed a note instead,
/// and a pending one gets the new details and a new link: the page says
/// the same in every case.
pub async fn sign_up(
    pool: &PgPool,
    a: &Accepted,
    password_hash: &str,
    now: DateTime<Utc>,
    compose: impl Composer,
) -> Result<(), AccountError> {
    let mut tx = pool.begin().await?;
    let existing: Option<(i64, String, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT id, name, lang, confirmed_at FROM accounts
         WHERE realm = 'customer' AND email = $1 FOR UPDATE",
    )
    .bind(&a.email)
    .fetch_optional(&mut *tx)
    .await?;
    let mail = match existing {
        Some((_, name, lang, Some(_))) => {
            let lang = Lang::from_code(&lang).unwrap_or(Lang::En);
            compose(AccountMailKind::Exists, &name, lang, None)?
        }
        pending => {
            let id: i64 = match pending {
                Some((id, ..)) => {
                    sqlx::query(
                        "UPDATE accounts SET name = $2, grant_number = $3, lang = $4,
                                password_hash = $5 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(&a.name)
                    .bind(&a.grant_number)
                    .bind(a.lang.as_str())
                    .bind(password_hash)
                    .execute(&mut *tx)
                    .await?;
                    // Only the newest link confirms: it goes with the
                    // newest password.
                    sqlx::query(
                        "DELETE FROM account_links
                         WHERE account_id = $1 AND purpose = 'confirm' AND used_at IS NULL",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    id
                }
                None => {
                    sqlx::query_scalar(
                        "INSERT INTO accounts (realm, email, name, grant_number, lang,
                                               password_hash, created_at)
                         VALUES ('customer', $1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(&a.email)
                    .bind(&a.name)
                    .bind(&a.grant_number)
                    .bind(a.lang.as_str())
                    .bind(password_hash)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            let link = new_link(&mut tx, id, LinkPurpose::Confirm, now).await?;
            compose(AccountMailKind::Confirm, &a.name, a.lang, Some(&link))?
        }
    };
    queue_mail(&mut tx, &mail).await?;
    tx.commit().await?;
    Ok(())
}

/// What became of a mailed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkUse {
    /// Good (and, when used, now spent).
    Valid(Account),
    Used,
    Expired,
    Unknown,
    /// The confirmation cannot stand: another user's first confirmation
    /// set the grant's domain to one this address is not in.
    DomainTaken,
    /// The password given with a confirmation is not the one given at
    /// sign-up: the link was not spent.
    WrongPassword,
}

/// Whether `given` is the password `stored` hashes, checked on a blocking
/// thread (Argon2 takes tens of milliseconds of CPU on purpose).
async fn matches(given: &str, stored: String) -> Result<bool, AccountError> {
    let given = given.to_owned();
    Ok(tokio::task::spawn_blocking(move || password::verify(&given, &stored)).await?)
}

/// A link with its account: expiry, use, then the account's row.
type LinkRow = (
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
);

/// Locks and judges the link `presented` for `purpose`.
async fn judge_link(
    tx: &mut Transaction<'_, Postgres>,
    presented: &str,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<LinkUse, AccountError> {
    let row: Option<LinkRow> = sqlx::query_as(
        "SELECT l.expires_at, l.used_at, a.id, a.realm, a.email, a.name, a.grant_number, a.lang
             FROM account_links l JOIN accounts a ON a.id = l.account_id
             WHERE l.token_sha256 = $1 AND l.purpose = $2 AND a.disabled_at IS NULL
             FOR UPDATE OF l",
    )
    .bind(token::digest(presented).to_hex())
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        None => LinkUse::Unknown,
        Some((_, Some(_), ..)) => LinkUse::Used,
        Some((expires, ..)) if expires <= now => LinkUse::Expired,
        Some((_, None, id, realm, email, name, grant, lang)) => {
            LinkUse::Valid(account((id, realm, email, name, grant, lang))?)
        }
    })
}

/// Whether `presented` is a good link for `purpose`, without spending it
/// (the page that shows the form the link leads to).
pub async fn peek_link(
    pool: &PgPool,
    presented: &str,
    purpose: LinkPurpose,
    now: DateTime<Utc>,
) -> Result<LinkUse, AccountError> {
    let mut tx = pool.begin().await?;
    let judged = judge_link(&mut tx, presented, purpose, now).await?;
    tx.rollback().await?;
    Ok(judged)
}

async fn spend_link(
    tx: &mut Transaction<'_, Postgres>,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    sqlx::query("UPDATE account_links SET used_at = $2 WHERE token_sha256 = $1")
        .bind(token::digest(presented).to_hex())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Spends a confirmation link given with the sign-up's password: the
/// address is proven. The password is asked again because a link only
/// proves the address: without it, someone who signed up first with a
/// victim's address and a password of their own would have the victim
/// confirm the account they can sign in to. A grant without domains takes
/// this address's (the first confirmed user sets it).
pub async fn confirm(
    pool: &PgPool,
    presented: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<LinkUse, AccountError> {
    let mut tx = pool.begin().await?;
    let judged = judge_link(&mut tx, presented, LinkPurpose::Confirm, now).await?;
    let LinkUse::Valid(a) = &judged else {
        tx.rollback().await?;
        return Ok(judged);
    };
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM accounts WHERE id = $1")
        .bind(a.id)
        .fetch_one(&mut *tx)
        .await?;
    if !matches(password, stored).await? {
        tx.rollback().await?;
        return Ok(LinkUse::WrongPassword);
    }
    if let (Some(g), Some(domain)) = (&a.grant_number, crate::sr::domain_of(&a.email)) {
        let grant: Option<GrantRow> = sqlx::query_as(
            "UPDATE grants SET email_domains = CASE WHEN cardinality(email_domains) = 0
                    THEN ARRAY[$2] ELSE email_domains END
             WHERE grant_number = $1
             RETURNING grant_number, company, email_domains, support_level, expires_on",
        )
        .bind(g)
        .bind(domain)
        .fetch_optional(&mut *tx)
        .await?;
        if !grant.is_some_and(|row| entitled(&Grant::from_row(row), &a.email)) {
            tx.rollback().await?;
            return Ok(LinkUse::DomainTaken);
        }
    }
    spend_link(&mut tx, presented, now).await?;
    sqlx::query("UPDATE accounts SET confirmed_at = COALESCE(confirmed_at, $2) WHERE id = $1")
        .bind(a.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(judged)
}

/// Mails a reset link to `email`'s account in `realm`, if there is one;
/// says nothing either way.
pub async fn forgot(
    pool: &PgPool,
    realm: Realm,
    email: &str,
    now: DateTime<Utc>,
    compose: impl Composer,
) -> Result<(), AccountError> {
    let mut tx = pool.begin().await?;
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT id, name, lang FROM accounts
         WHERE realm = $1 AND email = $2 AND disabled_at IS NULL",
    )
    .bind(realm.as_str())
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((id, name, lang)) = row {
        let lang = Lang::from_code(&lang).unwrap_or(Lang::En);
        let link = new_link(&mut tx, id, LinkPurpose::Reset, now).await?;
        queue_mail(
            &mut tx,
            &compose(AccountMailKind::Reset, &name, lang, Some(&link))?,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Spends a reset link, setting `password_hash`: the lock is lifted,
/// every session of the account ends, and the address counts as proven.
pub async fn reset(
    pool: &PgPool,
    presented: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<LinkUse, AccountError> {
    let mut tx = pool.begin().await?;
    let judged = judge_link(&mut tx, presented, LinkPurpose::Reset, now).await?;
    let LinkUse::Valid(a) = &judged else {
        tx.rollback().await?;
        return Ok(judged);
    };
    spend_link(&mut tx, presented, now).await?;
    sqlx::query(
        "UPDATE accounts SET password_hash = $2, failures = 0, locked_until = NULL,
                confirmed_at = COALESCE(confirmed_at, $3)
         WHERE id = $1",
    )
    .bind(a.id)
    .bind(password_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM sessions WHERE account_id = $1")
        .bind(a.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(judged)
}

/// How a sign-in went.
#[derive(Debug)]
pub enum SignIn {
    Ok {
        account: Account,
        session: Secret,
    },
    /// Wrong address or password (which of the two is not said).
    Wrong,
    /// Too many failures: the account is locked until then.
    Locked {
        until: DateTime<Utc>,
    },
    /// Too many failures from this client address: refused until then.
    AddressRefused {
        until: DateTime<Utc>,
    },
    /// The password is right but the address was never confirmed.
    Unconfirmed,
}

/// Signs `email` into `realm` with `password`, from client `address`.
pub async fn sign_in(
    pool: &PgPool,
    realm: Realm,
    email: &str,
    password: &str,
    address: &str,
    now: DateTime<Utc>,
    backoff: &Backoff,
) -> Result<SignIn, AccountError> {
    let (recent, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*), min(at) FROM sign_in_failures WHERE address = $1 AND at > $2",
    )
    .bind(address)
    .bind(now - backoff.window)
    .fetch_one(pool)
    .await?;
    if backoff.address_refused(u32::try_from(recent).unwrap_or(u32::MAX)) {
        return Ok(SignIn::AddressRefused {
            until: oldest.unwrap_or(now) + backoff.window,
        });
    }
    type Row = (
        i64,
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        i32,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, realm, email, name, grant_number, lang, password_hash, failures,
                locked_until, confirmed_at
         FROM accounts WHERE realm = $1 AND email = $2 AND disabled_at IS NULL",
    )
    .bind(realm.as_str())
    .bind(email)
    .fetch_optional(pool)
    .await?;
    if let Some(until) = row.as_ref().and_then(|r| r.8).filter(|u| *u > now) {
        return Ok(SignIn::Locked { until });
    }
    let stored = row
        .as_ref()
        .map_or_else(|| password::decoy().to_owned(), |r| r.6.clone());
    let good = matches(password, stored).await?;
    let Some((id, realm_s, email_s, name, grant, lang, _, failures, _, confirmed)) = row else {
        record_failure(pool, None, address, now, backoff).await?;
        return Ok(SignIn::Wrong);
    };
    if !good {
        let failures = u32::try_from(failures).unwrap_or(0).saturating_add(1);
        let until = record_failure(pool, Some((id, failures)), address, now, backoff).await?;
        return Ok(match until {
            Some(until) => SignIn::Locked { until },
            None => SignIn::Wrong,
        });
    }
    if confirmed.is_none() {
        return Ok(SignIn::Unconfirmed);
    }
    let account = account((id, realm_s, email_s, name, grant, lang))?;
    let session = Secret::generate()?;
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE accounts SET failures = 0, locked_until = NULL WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (token_sha256, account_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(session.digest().to_hex())
    .bind(id)
    .bind(now)
    .bind(now + SESSION_LIFETIME)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(SignIn::Ok { account, session })
}

/// Records a failed sign-in from `address` (and against the account, with
/// its new count of failures in a row); returns the lock it earned.
async fn record_failure(
    pool: &PgPool,
    account: Option<(i64, u32)>,
    address: &str,
    now: DateTime<Utc>,
    backoff: &Backoff,
) -> Result<Option<DateTime<Utc>>, AccountError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM sign_in_failures WHERE at <= $1")
        .bind(now - backoff.window)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO sign_in_failures (address, at) VALUES ($1, $2)")
        .bind(address)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let mut until = None;
    if let Some((id, failures)) = account {
        until = backoff.locked_until(failures, now);
        sqlx::query("UPDATE accounts SET failures = $2, locked_until = $3 WHERE id = $1")
            .bind(id)
            .bind(i32::try_from(failures).unwrap_or(i32::MAX))
            .bind(until)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(until)
}

/// The confirmed, enabled account of `realm` a session cookie names, if
/// the session has not expired.
pub async fn session(
    pool: &PgPool,
    presented: &str,
    realm: Realm,
    now: DateTime<Utc>,
) -> Result<Option<Account>, AccountError> {
    let row: Option<AccountRow> = sqlx::query_as(
        "SELECT a.id, a.realm, a.email, a.name, a.grant_number, a.lang
         FROM sessions s JOIN accounts a ON a.id = s.account_id
         WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND a.realm = $3
           AND a.disabled_at IS NULL AND a.confirmed_at IS NOT NULL",
    )
    .bind(token::digest(presented).to_hex())
    .bind(now)
    .bind(realm.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(account).transpose()
}

/// Ends the session a cookie names.
pub async fn sign_out(pool: &PgPool, presented: &str) -> Result<(), AccountError> {
    sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
        .bind(token::digest(presented).to_hex())
        .execute(pool)
        .await?;
    Ok(())
}

/// Every grant of the company that holds `grant_number`, by number.
pub async fn company_grants(pool: &PgPool, grant_number: &str) -> Result<Vec<Grant>, AccountError> {
    let rows: Vec<GrantRow> = sqlx::query_as(
        "SELECT g.grant_number, g.company, g.email_domains, g.support_level, g.expires_on
         FROM grants g
         WHERE g.company = (SELECT company FROM grants WHERE grant_number = $1)
         ORDER BY g.grant_number",
    )
    .bind(grant_number)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Grant::from_row).collect())
}

/// Most live API tokens one account may hold.
pub const MAX_TOKENS: i64 = 20;

/// An API token as its owner sees it (never the secret again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Makes an API token named `name` for `account_id`; the secret is shown
/// once. `None` when the account already holds [`MAX_TOKENS`].
pub async fn create_token(
    pool: &PgPool,
    account_id: i64,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Secret>, AccountError> {
    let secret = Secret::generate()?;
    let made = sqlx::query(
        "INSERT INTO api_tokens (token_sha256, account_id, name, created_at)
         SELECT $1, $2, $3, $4
         WHERE (SELECT count(*) FROM api_tokens WHERE account_id = $2 AND revoked_at IS NULL) < $5",
    )
    .bind(secret.digest().to_hex())
    .bind(account_id)
    .bind(name)
    .bind(now)
    .bind(MAX_TOKENS)
    .execute(pool)
    .await?;
    Ok((made.rows_affected() == 1).then_some(secret))
}

/// The live API tokens of `account_id`, newest first.
pub async fn tokens(pool: &PgPool, account_id: i64) -> Result<Vec<TokenInfo>, AccountError> {
    type Row = (i64, String, DateTime<Utc>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM api_tokens
         WHERE account_id = $1 AND revoked_at IS NULL ORDER BY id DESC",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, created_at, last_used_at)| TokenInfo {
            id,
            name,
            created_at,
            last_used_at,
        })
        .collect())
}

/// Revokes token `id` if it is `account_id`'s; whether it was.
pub async fn revoke_token(
    pool: &PgPool,
    account_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, AccountError> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3
         WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(account_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The confirmed, enabled account of `realm` a presented API token names,
/// if it is live; notes its use.
pub async fn token_account(
    pool: &PgPool,
    presented: &str,
    realm: Realm,
    now: DateTime<Utc>,
) -> Result<Option<Account>, AccountError> {
    // `last_used_at` to the minute: a script's every request is not a
    // write (and a commit to flush) of its own.
    let row: Option<AccountRow> = sqlx::query_as(
        "WITH t AS (
             SELECT t.id AS token_id, t.last_used_at, a.id, a.realm, a.email, a.name,
                    a.grant_number, a.lang
             FROM api_tokens t JOIN accounts a ON a.id = t.account_id
             WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL
               AND a.realm = $3 AND a.disabled_at IS NULL AND a.confirmed_at IS NOT NULL),
         used AS (
             UPDATE api_tokens SET last_used_at = $2 FROM t
             WHERE api_tokens.id = t.token_id
               AND (t.last_used_at IS NULL OR t.last_used_at < $2 - interval '1 minute'))
         SELECT id, realm, email, name, grant_number, lang FROM t",
    )
    .bind(token::digest(presented).to_hex())
    .bind(now)
    .bind(realm.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(account).transpose()
}
