//! The soak: a plugin (our `notes`) and the host's API each serve steady load from keep-alive
//! clients while hundreds of slow clients hold connections at the same time, for a bounded
//! time. It shows whether service stays up (every load call answered correctly, `/healthz`
//! answered throughout) and whether memory stays bounded (resident memory sampled every
//! 250 ms: at the start, at the peak, at the end).
//!
//! The slow clients are of three kinds, a third each: **trickling** ones send a request's
//! headers one byte every second (a slowloris), **stalled** ones send a body's first bytes and
//! then nothing, **idle** ones open a connection and send nothing. The servers close each kind
//! after their 30 s header or body timeout; the report counts how many they had closed by the
//! end (none in a quick run, which is shorter than the timeouts).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::{
    load::{self, Length},
    memory,
};

/// How a soak runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Settings {
    /// How long the load and the slow clients run.
    pub duration: Duration,
    /// Keep-alive clients calling back to back.
    pub concurrency: usize,
    /// Slow clients holding connections.
    pub slow_clients: usize,
}

/// What one target did under the soak.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The target.
    pub target: String,
    /// Calls answered correctly per second.
    pub calls_per_second: f64,
    /// Their p99 latency, in milliseconds.
    pub p99_ms: f64,
    /// `/healthz` probes answered `200` in time, and those that were not.
    pub healthz_ok: u64,
    /// `/healthz` probes not answered `200` within a second.
    pub healthz_failed: u64,
    /// Slow connections the server had closed by the end.
    pub slow_closed: u64,
    /// Slow connections opened.
    pub slow_opened: u64,
    /// Resident memory when the soak started, at its peak and at the end, in KiB.
    pub rss_start_kib: u64,
    /// The peak.
    pub rss_peak_kib: u64,
    /// At the end.
    pub rss_end_kib: u64,
}

/// Soaks the server `pid` at `addr`; `load` is its steady load for `duration`.
pub async fn run<F, Fut>(
    target: &str,
    pid: u32,
    addr: SocketAddr,
    settings: Settings,
    load: F,
) -> Result<Row>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<load::RunStats>>,
{
    let rss_start_kib = memory::rss_kib(pid)?;
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let mut slow = Vec::new();
    for i in 0..settings.slow_clients {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("slow client {i}: connect {addr}"))?;
        let (stop, closed) = (Arc::clone(&stop), Arc::clone(&closed));
        slow.push(tokio::spawn(slow_client(i % 3, stream, stop, closed)));
    }
    let probes = tokio::spawn(probe_health(addr, Arc::clone(&stop)));
    let sampler = memory::Sampler::start(pid);
    let stats = load().await;
    let rss_peak_kib = sampler.finish();
    stop.store(true, Ordering::SeqCst);
    for client in slow {
        let _ = client.await;
    }
    let (healthz_ok, healthz_failed) = probes.await.context("the health probe panicked")?;
    let mut stats = stats.with_context(|| format!("the load on {target} failed"))?;
    let rss_end_kib = memory::rss_kib(pid)?;
    Ok(Row {
        target: target.to_owned(),
        calls_per_second: stats.per_second(),
        p99_ms: load::quantile(&mut stats.latencies_us, 0.99) / 1000.0,
        healthz_ok,
        healthz_failed,
        slow_closed: closed.load(Ordering::SeqCst),
        slow_opened: settings.slow_clients as u64,
        rss_start_kib,
        rss_peak_kib: rss_peak_kib.max(rss_start_kib),
        rss_end_kib,
    })
}

/// One slow client of `kind` (0 trickling headers, 1 a stalled body, 2 idle) until `stop`;
/// counts itself in `closed` when the server closes the connection.
async fn slow_client(
    kind: usize,
    mut stream: TcpStream,
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicU64>,
) {
    let head = match kind {
        0 => "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_owned(),
        1 => "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\""
            .to_owned(),
        _ => String::new(),
    };
    if stream.write_all(head.as_bytes()).await.is_err() {
        closed.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let mut buf = [0_u8; 512];
    while !stop.load(Ordering::SeqCst) {
        if kind == 0 && stream.write_all(b"x").await.is_err() {
            closed.fetch_add(1, Ordering::SeqCst);
            return;
        }
        // The server closing (or answering and then closing) shows as a read of 0 or an error.
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await
        {
            closed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
}

/// Probes `/healthz` on a fresh connection every 250 ms until `stop`: (answered, not).
async fn probe_health(addr: SocketAddr, stop: Arc<AtomicBool>) -> (u64, u64) {
    let (mut ok, mut failed) = (0, 0);
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        match tokio::time::timeout(Duration::from_secs(1), healthz(addr)).await {
            Ok(Ok(())) => ok += 1,
            _ => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(250).saturating_sub(started.elapsed())).await;
    }
    (ok, failed)
}

async fn healthz(addr: SocketAddr) -> Result<()> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = hyper::Request::get("/healthz")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        bail!("/healthz answered {}", response.status());
    }
    response.into_body().collect().await?;
    Ok(())
}

/// `concurrency` keep-alive clients sending `GET path` with `token` back to back for
/// `duration`, each answer checked (`200`, and `expect` in the body).
pub async fn get_load(
    addr: SocketAddr,
    path: &str,
    token: &str,
    expect: &str,
    concurrency: usize,
    duration: Duration,
) -> Result<load::RunStats> {
    let mut workers = Vec::new();
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    for _ in 0..concurrency {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let (path, auth, expect) = (
            path.to_owned(),
            format!("Bearer {token}"),
            expect.to_owned(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let request = hyper::Request::get(path.as_str())
                    .header("host", "127.0.0.1")
                    .header("authorization", auth.as_str())
                    .body(Full::new(Bytes::new()))?;
                let sent = Instant::now();
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                if !status.is_success()
                    || !body.windows(expect.len()).any(|w| w == expect.as_bytes())
                {
                    bail!(
                        "GET {path} answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut stats = load::RunStats {
        calls: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for worker in workers {
        let latencies = worker.await.context("a load worker panicked")??;
        stats.calls += latencies.len() as u64;
        stats.latencies_us.extend(latencies);
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// The plugin's soak load: [`load::run`]'s notes workload.
pub async fn notes_load(addr: SocketAddr, settings: Settings) -> Result<load::RunStats> {
    load::run(
        addr,
        settings.concurrency,
        Length::Timed {
            warmup: Duration::ZERO,
            duration: settings.duration,
        },
    )
    .await
}

/// A long run of tool calls against one plugin, to see its memory settle: no per-call state
/// may be kept (rmcp has had response tasks that outlived their request).
#[derive(Debug, Clone, Serialize)]
pub struct Marathon {
    /// The target.
    pub target: String,
    /// Calls made in all, warm-up included.
    pub calls: u64,
    /// Calls made before the reference reading.
    pub warmup_calls: u64,
    /// Calls per second over the calls after the warm-up.
    pub calls_per_second: f64,
    /// Resident memory once warm, KiB: the reference.
    pub rss_warm_kib: u64,
    /// Its peak over the calls after the warm-up, KiB.
    pub rss_peak_kib: u64,
    /// At the end, KiB.
    pub rss_end_kib: u64,
}

impl Marathon {
    /// Whether memory stayed flat after the warm-up: the end within 10% (and at least
    /// 1 MiB, allocator slack) of the warm reading.
    pub fn flat(&self) -> bool {
        let allowed = (self.rss_warm_kib / 10).max(1024);
        self.rss_end_kib <= self.rss_warm_kib + allowed
    }
}

/// `total` tool calls (`add_note`/`list_notes`, fresh agents) at `concurrency` against the
/// server `pid` at `addr`, resident memory read once `warmup` of them are done and sampled
/// through the rest.
pub async fn marathon(
    target: &str,
    pid: u32,
    addr: SocketAddr,
    concurrency: usize,
    warmup: u64,
    total: u64,
) -> Result<Marathon> {
    let per_worker = |calls: u64| calls.div_ceil(concurrency as u64);
    let warm = load::run(addr, concurrency, load::Length::Calls(per_worker(warmup)))
        .await
        .with_context(|| format!("the warm-up of {target} failed"))?;
    let rss_warm_kib = memory::rss_kib(pid)?;
    let sampler = memory::Sampler::start(pid);
    let rest = load::run(
        addr,
        concurrency,
        load::Length::Calls(per_worker(total.saturating_sub(warmup))),
    )
    .await;
    let rss_peak_kib = sampler.finish();
    let rest = rest.with_context(|| format!("the run on {target} failed"))?;
    let rss_end_kib = memory::rss_kib(pid)?;
    Ok(Marathon {
        target: target.to_owned(),
        calls: warm.calls + rest.calls,
        warmup_calls: warm.calls,
        calls_per_second: rest.per_second(),
        rss_warm_kib,
        rss_peak_kib: rss_peak_kib.max(rss_end_kib),
        rss_end_kib,
    })
}
