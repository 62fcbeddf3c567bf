//! The JSON APIs' one error shape (`{"error": {"code", "message"}}`, with
//! a stable code) and their token authentication, shared by the portal's
//! API and the staff's: a token of one realm opens nothing in the other.

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::account::Realm;
use crate::store::accounts::{self, Account};

/// The one shape of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable: `unauthorized`, `not_found`, `invalid`, `unsupported_media_type`,
    /// `conflict`, `internal`.
    pub code: String,
    pub message: String,
}

/// An error response.
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds for `Retry-After`.
    retry: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, message: String) -> Problem {
        Problem {
            status,
            code,
            message,
            retry: None,
        }
    }

    /// With `Retry-After: secs`.
    pub fn retry_after(mut self, secs: u64) -> Problem {
        self.retry = Some(secs);
        self
    }

    pub fn not_found() -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such service request".into(),
        )
    }

    pub fn internal(e: impl std::fmt::Display) -> Problem {
        tracing::error!(error = %e, "api");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side".into(),
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let Problem {
            status,
            code,
            message,
            retry,
        } = self;
        let body = ApiError {
            error: ErrorBody {
                code: code.to_owned(),
                message,
            },
        };
        let mut res = (status, Json(body)).into_response();
        if let Some(secs) = retry {
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

/// The confirmed, enabled account of `realm` whose live API token the
/// request presents (`Authorization: Bearer …`); `401` otherwise.
pub async fn token_account(
    pool: &PgPool,
    headers: &HeaderMap,
    realm: Realm,
    now: DateTime<Utc>,
) -> Result<Account, Problem> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let unauthorized = || {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a live API token as `Authorization: Bearer <token>`".into(),
        )
    };
    if presented.is_empty() {
        return Err(unauthorized());
    }
    match accounts::token_account(pool, presented, realm, now).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(unauthorized()),
        Err(e) => Err(Problem::internal(e)),
    }
}

/// `router` with its OpenAPI description served as JSON at `path`.
pub fn described(
    router: axum::Router,
    path: &'static str,
    doc: utoipa::openapi::OpenApi,
) -> axum::Router {
    let doc = std::sync::Arc::new(doc);
    router.route(
        path,
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}

/// The token scheme, for an OpenAPI description.
pub struct TokenScheme;

impl utoipa::Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// A JSON body; one that cannot be read is answered in the one error shape
/// (`415` without the JSON content type, `422` otherwise).
pub struct Body<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        use axum::extract::rejection::JsonRejection;
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as Content-Type: application/json".into(),
            )),
            Err(e) => Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                e.body_text(),
            )),
        }
    }
}

/// A whole number however JSON writes it (`3` or `3.0`, both integers to
/// JSON Schema), if it fits a `u8`.
pub fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = f64::deserialize(d)?;
    if n.fract() == 0.0 && (0.0..=255.0).contains(&n) {
        Ok(n as u8)
    } else {
        Err(serde::de::Error::custom(
            "severity must be a whole number from 1 to 5",
        ))
    }
}
