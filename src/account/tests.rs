use chrono::{NaiveDate, TimeDelta, Utc};

use super::password::{self, PasswordProblem};
use super::token::{self, Secret};
use super::*;

fn grant(domains: &[&str], expires: Option<NaiveDate>) -> Grant {
    Grant {
        grant_number: "G-1".into(),
        company: "ACME".into(),
        email_domains: domains.iter().map(|d| d.to_string()).collect(),
        support_level: "gold".into(),
        expires_on: expires,
    }
}

fn form(email: &str, pw: &str) -> SignUp {
    SignUp {
        name: "Bob".into(),
        email: email.into(),
        grant_number: " G-1 ".into(),
        lang: Some(Lang::Zh),
        password: pw.into(),
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 2).unwrap_or_default()
}

const GOOD: &str = "Correct-Horse-7";

#[test]
fn each_password_rule_is_reported() {
    assert_eq!(password::check(GOOD), Ok(()));
    assert_eq!(
        password::check("short-A1"),
        Err(vec![PasswordProblem::TooShort])
    );
    assert_eq!(
        password::check("no-upper-case-1"),
        Err(vec![PasswordProblem::NoUpper])
    );
    assert_eq!(
        password::check("No-Digits-Here"),
        Err(vec![PasswordProblem::NoDigit])
    );
    assert_eq!(
        password::check("NoSpecial12345"),
        Err(vec![PasswordProblem::NoSpecial])
    );
    assert_eq!(
        password::check(&format!("A1!{}", "x".repeat(300))),
        Err(vec![PasswordProblem::TooLong])
    );
    // Non-ASCII letters count as letters, CJK passwords can pass.
    assert_eq!(password::check("密码很长很长的Pass1!"), Ok(()));
}

#[test]
fn hashes_are_argon2id_and_verify() {
    let h = password::hash(GOOD).unwrap_or_default();
    assert!(h.starts_with("$argon2id$"), "{h}");
    assert!(password::verify(GOOD, &h));
    assert!(!password::verify("Correct-Horse-8", &h));
    assert!(!password::verify(GOOD, "disabled"));
    assert_ne!(password::hash(GOOD).unwrap_or_default(), h, "salted");
}

#[test]
fn the_domain_rule() {
    let g = grant(&["acme.example"], None);
    let ok = check_sign_up(&form("Bob@EU.Acme.Example", GOOD), Some(&g), today());
    assert_eq!(
        ok.map(|a| (a.email, a.grant_number, a.lang, a.claim)),
        Ok((
            "bob@eu.acme.example".into(),
            "G-1".into(),
            Lang::Zh,
            DomainClaim::Registered
        ))
    );
    assert_eq!(
        check_sign_up(&form("eve@evil.example", GOOD), Some(&g), today()),
        Err(Refusal::DomainNotRegistered {
            domain: "evil.example".into()
        })
    );
    // A grant with no domain: the first user's sets it.
    let open = grant(&[], None);
    assert_eq!(
        check_sign_up(&form("bob@acme.example", GOOD), Some(&open), today()).map(|a| a.claim),
        Ok(DomainClaim::FirstUser("acme.example".into()))
    );
}

#[test]
fn unknown_and_expired_grants_are_refused() {
    assert_eq!(
        check_sign_up(&form("bob@acme.example", GOOD), None, today()),
        Err(Refusal::UnknownGrant("G-1".into()))
    );
    let old = grant(&["acme.example"], NaiveDate::from_ymd_opt(2026, 12, 1));
    assert!(matches!(
        check_sign_up(&form("bob@acme.example", GOOD), Some(&old), today()),
        Err(Refusal::GrantExpired { .. })
    ));
    let last_day = grant(&["acme.example"], Some(today()));
    assert!(check_sign_up(&form("bob@acme.example", GOOD), Some(&last_day), today()).is_ok());
}

#[test]
fn the_form_is_checked_before_the_grant() {
    let g = grant(&["acme.example"], None);
    assert_eq!(
        check_sign_up(&form("not-an-address", GOOD), None, today()),
        Err(Refusal::Email)
    );
    assert!(matches!(
        check_sign_up(&form("bob@acme.example", "weak"), Some(&g), today()),
        Err(Refusal::Password(p)) if p.len() == 4
    ));
    let mut f = form("bob@acme.example", GOOD);
    f.name = " \u{1b}[2J ".into();
    assert_eq!(check_sign_up(&f, Some(&g), today()), Err(Refusal::Name));
    for bad in [
        "a@b",
        "@b.example",
        "a b@c.example",
        "a@.example",
        "a@b.example.",
    ] {
        assert_eq!(normalise_email(bad), None, "{bad}");
    }
}

#[test]
fn failures_lock_an_account_for_longer_each_time() {
    let b = Backoff::default();
    let now = Utc::now();
    assert_eq!(b.locked_until(4, now), None);
    assert_eq!(b.locked_until(5, now), Some(now + TimeDelta::minutes(1)));
    assert_eq!(b.locked_until(6, now), Some(now + TimeDelta::minutes(2)));
    assert_eq!(b.locked_until(8, now), Some(now + TimeDelta::minutes(8)));
    assert_eq!(b.locked_until(500, now), Some(now + TimeDelta::hours(24)));
    assert!(!b.address_refused(29));
    assert!(b.address_refused(30));
}

#[test]
fn secrets_are_random_and_stored_as_digests() {
    let (Ok(a), Ok(b)) = (Secret::generate(), Secret::generate()) else {
        panic!("randomness")
    };
    assert_eq!(a.as_str().len(), 43);
    assert_ne!(a, b);
    assert_eq!(a.digest(), token::digest(a.as_str()));
    assert!(token::same(a.as_str(), a.as_str()));
    assert!(!token::same(a.as_str(), b.as_str()));
    assert!(!token::same("abc", "abcd"));
    assert_eq!(format!("{a:?}"), "Secret(..)");
}
