//! The one error type every handler returns. Each error carries a stable machine `code` (clients and
//! tests match on it) and a Simplified Chinese `message` (people read it); bad input also names the
//! row and field. Internal failures are logged in full and reach the client only as `internal`.
//!
//! API routes answer JSON `{code, message, row?, field?}`; page routes get the same error rendered as
//! an HTML page by [`crate::web::html_errors`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::DbError;

#[derive(Debug, Clone, Serialize)]
pub struct AppError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Marker left in a response's extensions so page routes can re-render the error as HTML.
#[derive(Debug, Clone)]
pub struct ErrorInfo(pub AppError);

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), row: None, field: None }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// Out of scope and absent look the same from outside: both are 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "未找到该记录，或您无权查看")
    }
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "auth.required", "请先登录")
    }
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "auth.forbidden", "您的角色无权执行此操作")
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "系统内部错误，请稍后重试或联系管理员")
    }
    pub fn at_row(mut self, row: usize) -> Self {
        self.row = Some(row);
        self
    }
    pub fn at_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    /// "第 3 行「code」：…" — how the error reads to a person.
    pub fn human(&self) -> String {
        let mut s = String::new();
        if let Some(r) = self.row {
            s.push_str(&format!("第 {r} 行"));
        }
        // Machine field names (`file`, `purpose`) are for API clients; people see the Chinese column names.
        if let Some(f) = self.field.as_ref().filter(|f| !f.is_ascii()) {
            s.push_str(&format!("「{f}」"));
        }
        if !s.is_empty() {
            s.push('：');
        }
        s.push_str(&self.message);
        s
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.human())
    }
}

impl std::error::Error for AppError {}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError::internal(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(&self)).into_response();
        res.extensions_mut().insert(ErrorInfo(self));
        res
    }
}
