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

use crate::{Board, Column, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, Task};

/// The board's page: the sidebar UI here, and `list_tasks`'s MCP App (`ui://kanban/board`).
pub(crate) const PAGE: &str = include_str!("ui/index.html");

/// The page's own script and styles only. Who may frame it is the host's to say: its UI
/// proxy adds `frame-ancestors` (its own origin, and those the operator allows).
const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
                   style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// `GET /`: the page. `GET /api/tasks`: every task. `POST /api/tasks`: a new one.
/// `POST /api/tasks/{id}/move`: moves one.
pub(crate) fn router(ctx: &UiContext, edits: Arc<Mutex<()>>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/tasks", get(list_tasks).post(create_task))
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

/// A task the dashboard user creates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTask {
    title: String,
    #[serde(default)]
    description: String,
    /// The agent to give it to; nobody's when absent or blank.
    #[serde(default)]
    assignee: Option<String>,
}

/// The longest agent id accepted as an assignee, in characters.
const MAX_ASSIGNEE_CHARS: usize = 128;

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

async fn create_task(
    State(admin): State<Admin>,
    Extension(caller): Extension<UiCaller>,
    body: Result<Json<NewTask>, JsonRejection>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let Json(new) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let title = new.title.trim();
    if title.is_empty() {
        return Err(ApiError::bad_request(
            "`title` is empty: say what is to be done".into(),
        ));
    }
    let assignee = new
        .assignee
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    for (field, text, max) in [
        ("title", title, MAX_TITLE_CHARS),
        (
            "description",
            new.description.as_str(),
            MAX_DESCRIPTION_CHARS,
        ),
        (
            "assignee",
            assignee.as_deref().unwrap_or(""),
            MAX_ASSIGNEE_CHARS,
        ),
    ] {
        let len = text.chars().count();
        if len > max {
            return Err(ApiError::bad_request(format!(
                "`{field}` is {len} characters long; the limit is {max}"
            )));
        }
    }
    // Who made it, as the host said when it minted the page's token.
    let created_by = match caller {
        UiCaller::Verified(claims) => claims.subject,
        _ => None,
    }
    .unwrap_or_else(|| "dashboard".to_owned());
    let task = Task {
        id: 0, // `add` gives it the store's
        title: title.to_owned(),
        description: new.description,
        column: Column::Todo,
        assignee,
        created_by,
        created_at: crate::unix_now(),
    };
    let task = admin.board()?.add(task).await?;
    Ok((StatusCode::CREATED, Json(task)))
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
