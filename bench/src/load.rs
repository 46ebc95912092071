//! The load generator: one keep-alive HTTP/1.1 connection per worker, all opened before the
//! clock starts, each sending `tools/call` requests back to back.
//!
//! # The workload
//!
//! Each worker alternates `add_note` and `list_notes`, and every add/list pair is made as a
//! fresh agent (`agent_id=b<run>-<worker>-<pair>`): the `list_notes` of a pair always returns
//! exactly the one note its `add_note` saved. So every call does the same work whatever the
//! contender's speed. (With a fixed set of agents, a contender 30× faster would accumulate 30×
//! longer note lists and serialise them on every `list_notes`: the faster it is, the more work
//! it would be given.) Every reply is checked: HTTP 200, a JSON-RPC `result`, no `isError`,
//! and each `list_notes` reply must carry the note just added.

use std::{
    fmt::Write as _,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, sync::Barrier};

/// The text every `add_note` saves, and every `list_notes` reply must carry.
const NOTE: &str = "benchmark note";

/// Numbers each run, so two runs against one server never share an agent.
static RUN: AtomicU64 = AtomicU64::new(0);

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Calls completed inside the measured window.
    pub calls: u64,
    /// The measured window.
    pub elapsed: Duration,
    /// The latency of each measured call, in microseconds.
    pub latencies_us: Vec<u32>,
}

impl RunStats {
    /// Calls per second over the measured window.
    pub fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// When a worker stops.
#[derive(Debug, Clone, Copy)]
pub enum Length {
    /// Run for `warmup` unmeasured, then `duration` measured.
    Timed {
        /// Calls made before the clock starts (connections are already open).
        warmup: Duration,
        /// The measured window.
        duration: Duration,
    },
    /// Make exactly this many calls per worker, all measured.
    Calls(u64),
}

/// Which calls the workers make.
#[derive(Debug, Clone)]
pub enum Mix {
    /// `add_note` and `list_notes` alternating, each pair as a fresh agent (the module's
    /// docs say why).
    AddAndList,
    /// `add_note` only, all as this one agent, whose notes then grow with every call: what
    /// the store section measures.
    AddsAs(String),
}

/// The request bodies, shared by the workers.
struct Workload {
    add: Bytes,
    list: Bytes,
    run: u64,
    /// The one agent of [`Mix::AddsAs`].
    only_adds_as: Option<String>,
}

impl Workload {
    fn new(mix: Mix) -> Self {
        Self {
            add: Bytes::from(format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"add_note","arguments":{{"text":"{NOTE}"}}}}}}"#
            )),
            list: Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_notes","arguments":{}}}"#,
            ),
            run: RUN.fetch_add(1, Ordering::Relaxed),
            only_adds_as: match mix {
                Mix::AddAndList => None,
                Mix::AddsAs(agent) => Some(agent),
            },
        }
    }
}

/// Runs `concurrency` workers against `addr` until `length` is reached, with
/// [`Mix::AddAndList`].
pub async fn run(addr: SocketAddr, concurrency: usize, length: Length) -> Result<RunStats> {
    run_mix(addr, concurrency, length, Mix::AddAndList).await
}

/// [`run`] with the calls of `mix`.
pub async fn run_mix(
    addr: SocketAddr,
    concurrency: usize,
    length: Length,
    mix: Mix,
) -> Result<RunStats> {
    let workload = Arc::new(Workload::new(mix));
    let barrier = Arc::new(Barrier::new(concurrency + 1));
    let mut workers = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let (workload, barrier) = (Arc::clone(&workload), Arc::clone(&barrier));
        workers.push(tokio::spawn(worker(
            w, sender, workload, barrier, length, addr,
        )));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut total = RunStats {
        calls: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    let mut first_error = None;
    for w in workers {
        match w.await.context("a load worker panicked")? {
            Ok(stats) => {
                total.calls += stats.calls;
                total.latencies_us.extend(stats.latencies_us);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    total.elapsed = match length {
        // A worker finishes the call in flight at the deadline: the window is at least
        // `duration`, and a little more when a slow call straddles it.
        Length::Timed { warmup, duration } => {
            started.elapsed().saturating_sub(warmup).max(duration)
        }
        Length::Calls(_) => started.elapsed(),
    };
    Ok(total)
}

async fn worker(
    index: usize,
    mut sender: http1::SendRequest<Full<Bytes>>,
    workload: Arc<Workload>,
    barrier: Arc<Barrier>,
    length: Length,
    addr: SocketAddr,
) -> Result<RunStats> {
    barrier.wait().await;
    let start = Instant::now();
    let (measure_from, end, max_calls) = match length {
        Length::Timed { warmup, duration } => (start + warmup, Some(start + warmup + duration), 0),
        Length::Calls(n) => (start, None, n),
    };
    let host = addr.to_string();
    let mut stats = RunStats {
        calls: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    let mut uri = String::with_capacity(64);
    let mut i: u64 = 0;
    loop {
        let now = Instant::now();
        match end {
            Some(end) if now >= end => break,
            None if i >= max_calls => break,
            _ => {}
        }
        let is_add = workload.only_adds_as.is_some() || i.is_multiple_of(2);
        let body = if is_add {
            workload.add.clone()
        } else {
            workload.list.clone()
        };
        uri.clear();
        match &workload.only_adds_as {
            Some(agent) => {
                let _ = write!(uri, "/mcp?agent_id={agent}");
            }
            None => {
                let _ = write!(uri, "/mcp?agent_id=b{}-{index}-{}", workload.run, i / 2);
            }
        }
        let req = http::Request::post(uri.as_str())
            .header(http::header::HOST, &host)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .body(Full::new(body))?;
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if status != http::StatusCode::OK
            || find(b"\"result\"", &bytes).is_none()
            || find(b"\"isError\":true", &bytes).is_some()
            || (!is_add && find(NOTE.as_bytes(), &bytes).is_none())
        {
            bail!(
                "unexpected reply to {} ({status}): {}",
                if is_add { "add_note" } else { "list_notes" },
                String::from_utf8_lossy(&bytes)
            );
        }
        let done = Instant::now();
        if now >= measure_from {
            stats.calls += 1;
            stats
                .latencies_us
                .push(u32::try_from(done.duration_since(now).as_micros()).unwrap_or(u32::MAX));
        }
        i += 1;
    }
    Ok(stats)
}

fn find(needle: &[u8], haystack: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `q`-quantile (0..=1) of `samples` (nearest rank), which it sorts.
pub fn quantile(samples: &mut [u32], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let idx = ((samples.len() - 1) as f64 * q).round() as usize;
    f64::from(samples[idx.min(samples.len() - 1)])
}
