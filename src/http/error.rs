//! The one place where errors become HTTP responses for the API endpoints.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// An API error. The body is RFC 6749 style JSON (`error`, `error_description`); the
/// description stays vague where detail would leak account or domain state (SPEC.md §8.7).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("the DNS backend is unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::Unavailable(_) => "temporarily_unavailable",
            ApiError::Internal(_) => "server_error",
        }
    }
}

impl From<dcgw_adapter::AdapterError> for ApiError {
    fn from(e: dcgw_adapter::AdapterError) -> Self {
        ApiError::Unavailable(format!("{} ({})", e, e.class()))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(detail) | ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
            }
            _ => {}
        }
        let description = match self {
            ApiError::BadRequest(d) => d.clone(),
            other => other.to_string(),
        };
        HttpResponse::build(self.status_code())
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({"error": self.code(), "error_description": description}))
    }
}
