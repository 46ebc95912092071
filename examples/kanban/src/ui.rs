//! The web UI: the whole board, for the dashboard user, who may move any task.
//!
//! Every request has passed the SDK's `nf_token` check before it gets here. The host serves
//! the UI under `/api/plugins/kanban/ui/`, so the page reaches the routes below by relative
//! URLs, each carrying the page's `nf_token`.

use std::sync::Arc;

use axum::{
    Extension, Json, Router,
    extract::{
        Path, State,
        rejection::{JsonRejection, PathRejection},
    },
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use nanofleet_sdk::{
    store::StoreError,
    ui::{UiCaller, UiContext},
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::{Board, Column, Task};

/// The board's page: the sidebar UI here, and `list_tasks`'s MCP App (`ui://kanban/board`).
pub(crate) const PAGE: &str = include_str!("ui/index.html");

/// The page's own script and styles only, and framed by the dashboard only.
const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
                   style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'self'";

/// `GET /`: the page. `GET /api/tasks`: every task. `POST /api/tasks/{id}/move`: moves one.
pub(crate) fn router(ctx: &UiContext, edits: Arc<Mutex<()>>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/tasks", get(list_tasks))
        .route("/api/tasks/{id}/move", post(move_task))
        .with_state(Admin {
            ctx: ctx.clone(),
            edits,
        })
}

/// What the handlers share: the plugin (for its store) and the board's edit lock.
#[derive(Clone)]
struct Admin {
    ctx: UiContext,
    edits: Arc<Mutex<()>>,
}

impl Admin {
    fn board(&self) -> Result<Board, ApiError> {
        Ok(Board::new(&self.ctx.shared_store()?, &self.edits))
    }
}

/// The board as the page shows it.
#[derive(Serialize)]
struct BoardView {
    tasks: Vec<Task>,
    /// The dashboard user the host minted the `nf_token` for, when it said.
    viewer: Option<String>,
}

#[derive(Deserialize)]
struct MoveTo {
    column: Column,
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_SECURITY_POLICY, CSP)], Html(PAGE))
}

async fn list_tasks(
    State(admin): State<Admin>,
    Extension(caller): Extension<UiCaller>,
) -> Result<Json<BoardView>, ApiError> {
    let viewer = match caller {
        UiCaller::Verified(claims) => claims.subject,
        _ => None,
    };
    let tasks = admin.board()?.all().await?;
    Ok(Json(BoardView { tasks, viewer }))
}

async fn move_task(
    State(admin): State<Admin>,
    id: Result<Path<u64>, PathRejection>,
    body: Result<Json<MoveTo>, JsonRejection>,
) -> Result<Json<Task>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Json(MoveTo { column }) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let moved = admin
        .board()?
        .edit(id, |task| {
            task.column = column;
            true
        })
        .await?;
    moved
        .map(Json)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no task {id}")))
}

/// An error answer: `{"error": "..."}` with its status.
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad_request(message: String) -> Self {
        Self(StatusCode::BAD_REQUEST, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (self.0, Json(Body { error: self.1 })).into_response()
    }
}
