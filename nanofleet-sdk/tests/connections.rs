//! Connections that would hold a server's resources for ever: partial headers, an idle
//! kept-alive connection, a trickled body, more connections than the server allows. Each test
//! fails on `axum::serve`, which the servers used before (no timer: no timeout fires).

use std::{net::SocketAddr, time::Duration};

use axum::{Router, routing::get, routing::post};
use nanofleet_sdk::connections::{Limits, serve};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    time::timeout,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Short limits, so that the tests take seconds.
fn limits(max_connections: usize) -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(500),
        body_read_timeout: Duration::from_millis(500),
        max_connections,
    }
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(limits: Limits) -> Result<Server, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }));
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(serve(listener, router, limits, async move {
        let _ = stopped.await;
    }));
    Ok(Server {
        addr,
        stop: Some(stop),
        done,
    })
}

/// Everything the server sends until it closes, or an error if it keeps the connection open
/// beyond `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Result<String, String> {
    let mut received = Vec::new();
    let read = timeout(within, stream.read_to_end(&mut received)).await;
    match read {
        Ok(_) => Ok(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => Err(format!(
            "still open after {within:?}, having sent {:?}",
            String::from_utf8_lossy(&received)
        )),
    }
}

async fn healthz(addr: SocketAddr) -> Result<String, Box<dyn std::error::Error>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    Ok(read_until_closed(&mut stream, Duration::from_secs(5)).await?)
}

#[tokio::test]
async fn partial_headers_are_cut_off() -> TestResult {
    let server = start(limits(16)).await?;
    let mut stream = TcpStream::connect(server.addr).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await?;
    // No blank line: the headers never end. The server closes the connection.
    let sent = read_until_closed(&mut stream, Duration::from_secs(5)).await?;
    assert!(!sent.contains(" 200 "), "{sent}");
    Ok(())
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() -> TestResult {
    let server = start(limits(16)).await?;
    let mut stream = TcpStream::connect(server.addr).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await?;
    assert_eq!(&first, b"HTTP/1.1 200");
    // Kept alive, then nothing more: closed after the header-read timeout.
    let rest = read_until_closed(&mut stream, Duration::from_secs(5)).await?;
    assert!(rest.ends_with("ok"), "{rest}");
    Ok(())
}

#[tokio::test]
async fn a_trickled_body_is_cut_off() -> TestResult {
    let server = start(limits(16)).await?;
    let mut stream = TcpStream::connect(server.addr).await?;
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nhello")
        .await?;
    // 95 bytes never come: the body times out, the request fails, the connection closes.
    let sent = read_until_closed(&mut stream, Duration::from_secs(5)).await?;
    assert!(!sent.contains(" 200 "), "{sent}");
    Ok(())
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_places_come_back() -> TestResult {
    let server = start(Limits {
        header_read_timeout: Duration::from_secs(2),
        ..limits(4)
    })
    .await?;
    // Four slow clients take every place...
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(server.addr).await?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\n").await?;
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...so the next is told so at once, and closed.
    let refused = healthz(server.addr).await?;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("too_many_connections"), "{refused}");
    // Their header timeout frees the places: the server serves again.
    for stream in &mut slow {
        read_until_closed(stream, Duration::from_secs(5)).await?;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let served = healthz(server.addr).await?;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    Ok(())
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns() -> TestResult {
    let mut server = start(limits(16)).await?;
    assert!(healthz(server.addr).await?.starts_with("HTTP/1.1 200"));
    if let Some(stop) = server.stop.take() {
        let _ = stop.send(());
    }
    timeout(Duration::from_secs(5), &mut server.done).await???;
    assert!(TcpStream::connect(server.addr).await.is_err());
    Ok(())
}

#[tokio::test]
async fn two_host_headers_are_a_bad_request() -> TestResult {
    let server = start(limits(16)).await?;
    let mut stream = TcpStream::connect(server.addr).await?;
    stream
        .write_all(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        )
        .await?;
    let sent = read_until_closed(&mut stream, Duration::from_secs(5)).await?;
    assert!(sent.starts_with("HTTP/1.1 400"), "{sent}");
    assert!(sent.contains("duplicate_host"), "{sent}");
    assert!(healthz(server.addr).await?.starts_with("HTTP/1.1 200"));
    Ok(())
}
