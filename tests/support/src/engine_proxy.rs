//! A proxy on the engine's socket that a test controls: every request is passed to the real
//! engine unless the test has set a [`Fault`], which answers it with an error or cuts the
//! connection instead, as an engine that fails or dies mid-operation would.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};

/// What the proxy does to the requests a fault matches (method, and a part of the path).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answers with this HTTP status and an engine-style JSON message.
    Fail {
        /// The method matched, such as `POST`.
        method: &'static str,
        /// A part of the path matched, such as `/start`.
        path: &'static str,
        /// The status answered, such as 500.
        status: u16,
    },
    /// Closes the connection without answering, as an engine that died.
    Cut {
        /// The method matched.
        method: &'static str,
        /// A part of the path matched.
        path: &'static str,
    },
}

impl Fault {
    fn matches(&self, method: &str, path: &str) -> bool {
        let (m, p) = match self {
            Self::Fail { method, path, .. } | Self::Cut { method, path } => (method, path),
        };
        *m == method && path.contains(p)
    }
}

#[derive(Default)]
struct State {
    fault: Option<Fault>,
    hits: usize,
}

/// The proxy, listening on a socket of its own until dropped.
pub struct EngineProxy {
    socket: PathBuf,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl EngineProxy {
    /// Listens on `dir/engine.sock`, passing requests to the engine `DOCKER_HOST` names (a
    /// `unix://` socket) or the default socket.
    pub fn start(dir: &Path) -> Self {
        let upstream: PathBuf = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"));
        let socket = dir.join("engine.sock");
        let listener = UnixListener::bind(&socket).expect("bind the proxy socket");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let (state, upstream) = (Arc::clone(&shared), upstream.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        forward(request, Arc::clone(&state), upstream.clone())
                    });
                    // A cut ends the connection with an error: that is the point.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(client), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Self {
            socket,
            state,
            task,
        }
    }

    /// The value of `DOCKER_HOST` that reaches the engine through the proxy.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Applies `fault` from now on (`None`: pass everything).
    pub fn set(&self, fault: Option<Fault>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.fault = fault;
        state.hits = 0;
    }

    /// How many requests the current fault has hit.
    pub fn hits(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hits
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

async fn forward(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
    upstream: PathBuf,
) -> Result<Response<Body>, Box<dyn std::error::Error + Send + Sync>> {
    let fault = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let hit = state
            .fault
            .clone()
            .filter(|f| f.matches(request.method().as_str(), request.uri().path()));
        if hit.is_some() {
            state.hits += 1;
        }
        hit
    };
    match fault {
        Some(Fault::Cut { .. }) => return Err("the engine is gone (a test cut it)".into()),
        Some(Fault::Fail { status, .. }) => {
            let body = format!(r#"{{"message":"injected engine failure ({status})"}}"#);
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(
                    Full::new(Bytes::from(body))
                        .map_err(|never| match never {})
                        .boxed(),
                )?;
            return Ok(response);
        }
        None => {}
    }
    let stream = UnixStream::connect(&upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let response = sender.send_request(request).await?;
    Ok(response.map(BodyExt::boxed))
}
