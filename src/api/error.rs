//! One error type for every handler, mapped to a status code and a JSON `{"error": "..."}` body
//! in one place. Extractor rejections (bad JSON, oversize body, bad path) map here too.

use crate::store::StoreError;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What was wrong, for a person to read (internal errors say only "internal error").
    pub error: String,
    /// A stable name for errors a client acts on: `unsafe_request` (422: the reply asks the
    /// customer for a secret, or holds one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// With `unsafe_request`: what the reply asked for (`seed_phrase`, `private_key`,
    /// `keystore`, `wallet_password`, `one_time_code`, `remote_access`, `send_funds`,
    /// `contains_secret`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("this needs the admin role")]
    Forbidden,
    #[error("{0}")]
    TooManyRequests(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{1}")]
    Rejected(StatusCode, String),
    #[error("refused: {0}")]
    Unsafe(switchboard_safety::Refusal),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Rejected(status, _) => *status,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unsafe(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &self {
            Self::Unexpected(e) => {
                // The cause chain goes to the log, not to the client.
                tracing::error!(error = ?e, "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let (code, category) = match &self {
            Self::Unsafe(refusal) => (Some("unsafe_request"), Some(refusal.category)),
            _ => (None, None),
        };
        let body = ErrorBody {
            error: message,
            code,
            category,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            // The store or the process will be back: a widget or webhook sender retries.
            response.headers_mut().insert(
                header::RETRY_AFTER,
                RETRY_AFTER_SECONDS.parse().expect("static header"),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("static header"),
            );
        }
        response
    }
}

/// What a 503 asks the client to wait before trying again.
const RETRY_AFTER_SECONDS: &str = "5";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            // Logged here with its cause; the client only learns that it may retry.
            tracing::warn!(error = %e, "request refused: the store is unavailable");
            return Self::Unavailable("the store is unavailable, try again shortly".into());
        }
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Invalid(m) => Self::BadRequest(m),
            other => Self::Unexpected(other.into()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match rejection.status() {
            // Wrong shape is as much a bad request as broken syntax.
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        Self::Rejected(status, rejection.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        Self::Rejected(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::Rejected(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::Rejected(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

/// `axum::Json`, but its rejections answer in our JSON error format.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The raw request body (for routes that check who is asking before parsing it); an oversize
/// body answers 413 in our JSON error format.
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(axum::body::Bytes::from_request(request, state).await?))
    }
}
