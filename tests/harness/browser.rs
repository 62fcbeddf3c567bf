//! A browser without JavaScript for the web tests: keeps its cookies,
//! follows no redirect, says which language it prefers, and reads the
//! hidden fields of the pages it gets.
// Each web test uses its part.
#![allow(dead_code)]

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};

/// A browser without JavaScript: keeps cookies, follows nothing.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` seen, for their attributes.
    pub set: Vec<String>,
    pub lang: &'static str,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn csrf(&self) -> String {
        field(&self.body, "csrf")
    }
}

/// The value of the hidden field `name` in a page.
pub fn field(body: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    body.split_once(&key)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(v, _)| v.to_owned())
        .unwrap_or_default()
}

impl Browser {
    pub fn new(base: &str, lang: &'static str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
            cookies: BTreeMap::new(),
            set: Vec::new(),
            lang,
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn take(&mut self, r: reqwest::Response) -> Page {
        for c in r.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap_or_default().to_owned();
            if let Some((kv, _)) = c.split_once(';')
                && let Some((k, v)) = kv.split_once('=')
            {
                if c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
            self.set.push(c);
        }
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Accept-Language", self.lang)
            .send()
            .await
            .expect("GET");
        self.take(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Accept-Language", self.lang)
            .form(form)
            .send()
            .await
            .expect("POST");
        self.take(r).await
    }

    /// Posts a multipart form (an upload page's) to `path`.
    pub async fn upload(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Accept-Language", self.lang)
            .multipart(form)
            .send()
            .await
            .expect("POST");
        self.take(r).await
    }

    /// Fills the form on `page_path` and posts it to `post_path`.
    pub async fn submit(
        &mut self,
        page_path: &str,
        post_path: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let csrf = self.get(page_path).await.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(post_path, &form).await
    }
}
