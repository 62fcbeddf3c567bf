//! Staff accounts through `intake staff` on the real database: the
//! password rules, one account per address, sign-in in the staff realm
//! only, disabling (sessions and tokens end), every change an event with
//! who made it.

mod harness;

use std::io::Write;
use std::process::{Command, Stdio};

use harness::Env;
use intake::account::{Backoff, Realm};
use intake::store::accounts::{self, SignIn};

const GOOD: &str = "Lab-Analyst-2026";

fn staff(env: &Env, args: &[&str], stdin: &str) -> (bool, String) {
    let base = harness::base_url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_intake"))
        .env("INTAKE_DATABASE_URL", format!("{base}/{}", env.db_name))
        .env("INTAKE_BLOB_DIR", env.blob_dir.path())
        .env("RUST_LOG", "error")
        .env("USER", "root-operator")
        .arg("staff")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("intake");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn staff_accounts_are_added_signed_in_and_disabled_with_events() {
    let env = Env::new().await;
    let (ok, said) = staff(
        &env,
        &["add", "ana@lab.example", "--name", "Ana", "--role", "lead"],
        "weak\n",
    );
    assert!(!ok && said.contains("upper-case"), "{said}");
    let (ok, said) = staff(
        &env,
        &["add", "ana@lab.example", "--name", "Ana", "--role", "chief"],
        "",
    );
    assert!(!ok && said.contains("not a role"), "{said}");
    let (ok, said) = staff(
        &env,
        &["add", "Ana@Lab.example", "--name", "Ana", "--role", "lead"],
        &format!("{GOOD}\n"),
    );
    assert!(ok, "{said}");
    let (ok, said) = staff(
        &env,
        &["add", "ana@lab.example", "--name", "Ana"],
        &format!("{GOOD}\n"),
    );
    assert!(!ok && said.contains("exists already"), "{said}");
    let (ok, said) = staff(&env, &["list"], "");
    assert!(
        ok && said.contains("ana@lab.example") && said.contains("lead") && said.contains("active"),
        "{said}"
    );

    // Staff sign in as staff, never as customers.
    let now = chrono::Utc::now();
    let backoff = Backoff::default();
    let sign = |realm| {
        accounts::sign_in(
            &env.pool,
            realm,
            "ana@lab.example",
            GOOD,
            "127.0.0.1",
            now,
            &backoff,
        )
    };
    assert!(matches!(
        sign(Realm::Staff).await.expect("sign in"),
        SignIn::Ok { .. }
    ));
    assert!(matches!(
        sign(Realm::Customer).await.expect("sign in"),
        SignIn::Wrong
    ));

    let (ok, said) = staff(&env, &["disable", "ana@lab.example"], "");
    assert!(ok, "{said}");
    assert_eq!(env.count("SELECT count(*) FROM sessions").await, 0);
    assert!(matches!(
        sign(Realm::Staff).await.expect("sign in"),
        SignIn::Wrong
    ));
    let (ok, said) = staff(&env, &["list"], "");
    assert!(ok && said.contains("disabled"), "{said}");
    let events: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, kind FROM events WHERE kind LIKE 'staff.%' ORDER BY id")
            .fetch_all(&env.pool)
            .await
            .expect("events");
    assert_eq!(
        events,
        [
            ("root-operator".to_owned(), "staff.added".to_owned()),
            ("root-operator".to_owned(), "staff.disabled".to_owned())
        ]
    );
    env.cleanup().await;
}
