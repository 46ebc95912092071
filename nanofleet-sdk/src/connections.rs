//! How the plugin's servers, and the host's API (which serves with this too), accept
//! connections: with limits, so that nobody on the network can hold the process's resources.
//!
//! `axum::serve` gives hyper no timer, so hyper's header-read timeout never fires: a client that
//! sends part of its headers keeps its connection, a file descriptor and its buffers for ever,
//! and about a thousand of them exhaust the process's descriptors (no credential needed). Here
//! every connection has
//!
//! - a **header-read timeout** ([`Limits::header_read_timeout`]), which is also the **idle
//!   timeout** of a kept-alive connection: hyper starts it whenever it waits for the next
//!   request's headers;
//! - a **body-read timeout** ([`Limits::body_read_timeout`]) between two chunks of a request
//!   body, so a body trickled byte by byte does not hold the connection either;
//!
//! and the connections are **capped** ([`Limits::max_connections`]): one more is answered `503`
//! with a JSON error (`too_many_connections`) and closed at once, so the process never runs out
//! of descriptors and memory stays bounded (hyper bounds each connection's buffers). Responses
//! are not timed: a tool may take its time, and an SSE stream stays open while the client reads.
//!
//! A request with more than one `Host` header is answered `400` (RFC 9112, 3.2): the host checks
//! that guard against DNS rebinding read one, and a proxy may have routed by the other.

use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    Router,
    http::{Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::future::{self, Either, Ready};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    time::Sleep,
};
use tower::{BoxError, ServiceExt, util::Oneshot};

/// The limits every connection is served under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection may wait for its next request. Default: 30 s.
    pub header_read_timeout: Duration,
    /// How long a request body may pause between two chunks. Default: 30 s.
    pub body_read_timeout: Duration,
    /// How many connections are served at once; one more is refused with `503`.
    /// Default: 512, half the usual descriptor limit of 1,024.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

/// The body of the refusal a connection over [`Limits::max_connections`] gets.
const REFUSAL: &str = r#"{"error":"too_many_connections","message":"the server is serving as many connections as it allows; retry shortly"}"#;

/// Serves `router` on `listener` under `limits` until `shutdown` resolves; then stops
/// accepting, lets every open connection finish the request it is serving, and returns.
///
/// # Errors
///
/// None today: an accept that fails (out of descriptors, a connection reset before it was
/// accepted) is logged and retried, as `axum::serve` does. The `Result` leaves room for
/// failures a future version may report.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let service = Guarded {
        router,
        body_read_timeout: limits.body_read_timeout,
    };
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection ends in an error for reasons of the client's (a timeout, a reset):
            // nothing to do but free its place.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// An accept that failed: a connection the client gave up on is nothing; anything else (out of
/// descriptors) is logged, and accepting pauses so that the loop does not spin.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Answers a connection over the cap with `503` and closes it, without reading its request
/// (which may never come): the refusal must not hold anything either.
async fn refuse(mut stream: TcpStream) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{REFUSAL}",
        REFUSAL.len()
    );
    let answer = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        // Closing with the request unread would reset the connection, and the client could
        // lose the answer: read what it sent until it closes (bounded by the timeout).
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// The router, behind what every request gets before it: a single `Host` header, and the
/// body-read timeout on its body.
#[derive(Clone)]
struct Guarded {
    router: Router,
    body_read_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for Guarded {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        Ready<Result<Response, Infallible>>,
        Oneshot<Router, Request<ChunkTimeout<Incoming>>>,
    >;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if request
            .headers()
            .get_all(header::HOST)
            .iter()
            .nth(1)
            .is_some()
        {
            let refusal = (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({
                    "error": "duplicate_host",
                    "message": "the request has more than one Host header",
                })),
            );
            return Either::Left(future::ready(Ok(refusal.into_response())));
        }
        let timeout = self.body_read_timeout;
        let request = request.map(|body| ChunkTimeout::new(body, timeout));
        Either::Right(self.router.clone().oneshot(request))
    }
}

/// A request body is not read within the body-read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: nothing arrived for {0:?}")]
struct BodyTimeout(Duration);

pin_project_lite::pin_project! {
    /// A body that fails with [`BodyTimeout`] when its next chunk keeps it waiting longer than
    /// the timeout. The timer is armed only while the body is waiting: a body that has arrived
    /// with its headers, as nearly every MCP request has, never arms one.
    struct ChunkTimeout<B> {
        #[pin]
        body: B,
        timeout: Duration,
        #[pin]
        waiting: Option<Sleep>,
    }
}

impl<B> ChunkTimeout<B> {
    fn new(body: B, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            waiting: None,
        }
    }
}

impl<B> Body for ChunkTimeout<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            // Progress: the next chunk gets the whole timeout again.
            this.waiting.set(None);
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if this.waiting.is_none() {
            this.waiting.set(Some(tokio::time::sleep(*this.timeout)));
        }
        if let Some(waiting) = this.waiting.as_pin_mut() {
            ready!(waiting.poll(cx));
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(*this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
