//! The answer templates, compiled into the binary from `templates/mail/`.
//! Each file starts with a `Subject:` line, a line break, then the body.

use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior, Value};

use super::TemplateError;
use crate::sr::{AnswerKind, Lang};

macro_rules! files {
    ($($lang:literal / $name:literal),* $(,)?) => {
        &[$((concat!($lang, "/", $name, ".txt"), include_str!(concat!("../../templates/mail/", $lang, "/", $name, ".txt")))),*]
    };
}

const FILES: &[(&str, &str)] = files![
    "en" / "_words",
    "en" / "_rejected",
    "en" / "accepted",
    "en" / "needs_info",
    "en" / "rejected",
    "en" / "held",
    "en" / "closed",
    "en" / "verdict",
    "en" / "message",
    "en" / "info_request",
    "en" / "detection",
    "en" / "account_confirm",
    "en" / "account_reset",
    "en" / "account_exists",
    "zh" / "_words",
    "zh" / "_rejected",
    "zh" / "accepted",
    "zh" / "needs_info",
    "zh" / "rejected",
    "zh" / "held",
    "zh" / "closed",
    "zh" / "verdict",
    "zh" / "message",
    "zh" / "info_request",
    "zh" / "detection",
    "zh" / "account_confirm",
    "zh" / "account_reset",
    "zh" / "account_exists",
];

static ENV: LazyLock<Result<Environment<'static>, TemplateError>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // A misspelt variable is an error in the test suite, not a blank in a mail.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in FILES {
        env.add_template(name, source)
            .map_err(|e| TemplateError::new(name, &e))?;
    }
    Ok(env)
});

/// Renders the `kind` template in `lang`: (subject, body).
pub fn render(lang: Lang, kind: AnswerKind, ctx: Value) -> Result<(String, String), TemplateError> {
    render_named(lang, kind.as_str(), ctx)
}

/// Renders the template `name` (its file name without `.txt`) in `lang`.
pub fn render_named(lang: Lang, name: &str, ctx: Value) -> Result<(String, String), TemplateError> {
    let name = format!("{}/{}.txt", lang.as_str(), name);
    let env = ENV.as_ref().map_err(Clone::clone)?;
    let text = env
        .get_template(&name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| TemplateError::new(&name, &e))?;
    let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
    let subject = first.strip_prefix("Subject:").unwrap_or(first).trim();
    // Subjects are one line whatever a value held.
    let subject: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok((
        subject,
        body.trim_start_matches('\n').trim_end().to_owned() + "\n",
    ))
}
