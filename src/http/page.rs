//! Server-rendered pages: HTML templates compiled into the binary from
//! `templates/web/`, escaped by the template engine (every `.html` template
//! auto-escapes, so a hostile file name or SR field is shown as text), and
//! their words in English and Chinese from `templates/web/text.toml`. The
//! staff pages will render through the same environment.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::sr::Lang;

macro_rules! files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/web/", $name)))),*]
    };
}

const FILES: &[(&str, &str)] = files![
    "_layout.html",
    "message.html",
    "portal/sign_up.html",
    "portal/sign_in.html",
    "portal/forgot.html",
    "portal/reset.html",
    "portal/confirm.html",
    "portal/home.html",
    "portal/_nav.html",
    "portal/srs.html",
    "portal/sr_new.html",
    "portal/sr.html",
    "portal/tokens.html",
    "portal/upload.html",
    "portal/uploaded.html",
    "triage/sign_in.html",
    "triage/queue.html",
    "triage/parked.html",
    "triage/sr.html",
    "triage/outbreaks.html",
    "triage/_staff.html",
];

const TEXT: &str = include_str!("../../templates/web/text.toml");

/// The pages' words, by language and key.
type Words = BTreeMap<String, BTreeMap<String, String>>;

struct Pages {
    env: Environment<'static>,
    words: Words,
}

static PAGES: LazyLock<Result<Pages, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // A misspelt variable or word is an error in the tests, not a blank.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in FILES {
        env.add_template(name, source)
            .map_err(|e| format!("{name}: {e:#}"))?;
    }
    let words: Words = toml::from_str(TEXT).map_err(|e| format!("text.toml: {e}"))?;
    Ok(Pages { env, words })
});

/// The words of `lang`, for a template's `t`.
fn words(p: &Pages, lang: Lang) -> Value {
    Value::from(minijinja::value::Serde(
        p.words.get(lang.as_str()).cloned().unwrap_or_default(),
    ))
}

/// Renders `template` with `ctx` in `lang`; `lang`, `t` (the words) and
/// `csrf` are always there.
pub fn render(template: &str, lang: Lang, csrf: &str, ctx: Value) -> Response {
    render_status(StatusCode::OK, template, lang, csrf, ctx)
}

pub fn render_status(
    status: StatusCode,
    template: &str,
    lang: Lang,
    csrf: &str,
    ctx: Value,
) -> Response {
    let out = PAGES.as_ref().map_err(Clone::clone).and_then(|p| {
        let all = minijinja::context! {
            lang => lang.as_str(),
            t => words(p, lang),
            csrf => csrf,
            ..ctx
        };
        p.env
            .get_template(template)
            .and_then(|t| t.render(all))
            .map_err(|e| format!("{template}: {e:#}"))
    });
    match out {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page template");
            (StatusCode::INTERNAL_SERVER_ERROR, "page template error\n").into_response()
        }
    }
}

/// The CSRF token of a page request, its language, and the cookie that
/// sets the token when it is new; [`finish`] adds the cookie to the
/// response.
pub struct Visit {
    pub csrf: String,
    set: Option<String>,
    pub lang: Lang,
}

impl Visit {
    /// The visit of a request with `headers`; `lang` is the `?lang=` asked
    /// for, if any.
    pub fn new(headers: &HeaderMap, lang: Option<&str>, secure: bool) -> Visit {
        let (csrf, set) = super::guard::csrf_token(headers, secure);
        Visit {
            csrf,
            set,
            lang: lang_of(lang, headers),
        }
    }
}

/// `res` with the visit's CSRF cookie, when it is new.
pub fn finish(v: &Visit, mut res: Response) -> Response {
    if let Some(c) = v
        .set
        .as_deref()
        .and_then(|c| axum::http::HeaderValue::from_str(c).ok())
    {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// The word `key` in `lang` (the key itself when missing, which the word
/// list's test keeps from happening).
pub fn word(lang: Lang, key: &str) -> String {
    PAGES
        .as_ref()
        .ok()
        .and_then(|p| p.words.get(lang.as_str()))
        .and_then(|w| w.get(key))
        .cloned()
        .unwrap_or_else(|| key.to_owned())
}

/// A page that only says something: a title and a message, both keys of
/// the words.
pub fn message(status: StatusCode, lang: Lang, csrf: &str, title: &str, text: &str) -> Response {
    render_status(
        status,
        "message.html",
        lang,
        csrf,
        minijinja::context! { title => title, text => text },
    )
}

/// A page that says `said` (already in `lang`) under the title `title`
/// (a key of the words).
pub fn message_text(
    status: StatusCode,
    lang: Lang,
    csrf: &str,
    title: &str,
    said: &str,
) -> Response {
    render_status(
        status,
        "message.html",
        lang,
        csrf,
        minijinja::context! { title => title, said => said },
    )
}

/// The pages' stylesheet (the CSP allows styles from here only).
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../templates/web/web.css"),
    )
        .into_response()
}

/// The language of a page for someone not signed in: `?lang=` when given,
/// else the browser's first choice between the two.
pub fn lang_of(query: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(lang) = query.and_then(Lang::from_code) {
        return lang;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(',')
        .find_map(|tag| Lang::from_tag(tag.split(';').next().unwrap_or("")))
        .unwrap_or(Lang::En)
}

/// A time as the pages show it.
/// `(key, value)` pairs as a URL's query (`a=1&b=x%20y`), every byte
/// outside the unreserved set percent-encoded.
pub fn query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k.as_ref()), enc(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_both_languages_have_every_word() {
        let p = PAGES.as_ref().expect("pages load");
        let en: Vec<_> = p
            .words
            .get("en")
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        let zh: Vec<_> = p
            .words
            .get("zh")
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert!(!en.is_empty());
        assert_eq!(en, zh, "text.toml: the same keys in [en] and [zh]");
    }

    #[test]
    fn the_page_language() {
        let mut h = HeaderMap::new();
        assert_eq!(lang_of(None, &h), Lang::En);
        h.insert(
            header::ACCEPT_LANGUAGE,
            "zh-CN,zh;q=0.9,en;q=0.8".parse().expect("hv"),
        );
        assert_eq!(lang_of(None, &h), Lang::Zh);
        assert_eq!(lang_of(Some("en"), &h), Lang::En);
        h.insert(
            header::ACCEPT_LANGUAGE,
            "fr, en-GB;q=0.5".parse().expect("hv"),
        );
        assert_eq!(lang_of(None, &h), Lang::En);
    }

    #[test]
    fn hostile_text_is_escaped() {
        let form = minijinja::context! { name => "<img src=x onerror=alert(1)>", email => "", grant_number => "" };
        let r = render(
            "portal/sign_up.html",
            Lang::En,
            "tok\"en",
            minijinja::context! { form => form, errors => Vec::<String>::new(), problems => Vec::<String>::new() },
        );
        assert_eq!(r.status(), StatusCode::OK);
        let p = PAGES.as_ref().expect("pages");
        let html = p
            .env
            .get_template("portal/sign_up.html")
            .and_then(|t| {
                t.render(minijinja::context! {
                    lang => "en", t => words(p, Lang::En), csrf => "tok\"en",
                    form => minijinja::context! { name => "<img src=x onerror=alert(1)>", email => "", grant_number => "" },
                    errors => Vec::<String>::new(), problems => Vec::<String>::new(),
                })
            })
            .unwrap_or_default();
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains("<img"));
        assert!(html.contains("tok&quot;en"));
    }
}
