//! Cold start: from asking the engine to start a plugin container to the plugin's first
//! successful `tools/list`, for each example image.
//!
//! Each sample creates a fresh, hardened container exactly as the host would
//! ([`ContainerSpec`] with the host's environment: API URL, a fresh internal token, plugin id,
//! signatures required) under a new plugin name (so a new, empty data volume), then sends
//! `tools/list` to its address every [`POLL_EVERY`] over a new connection, with the `Host`
//! header the plugin accepts (`nanofleet-plugin-<name>:<port>`), until one answers with the
//! tools. Three figures per sample:
//!
//! - **total**: from the `create` call to the first answer (what an installer waits);
//! - **engine**: the engine's create + start call alone;
//! - **process**: from the container's `State.StartedAt` (the engine's clock, this machine) to
//!   the first answer: what the plugin binary itself takes to serve.
//!
//! Images are interleaved within each repetition, medians are reported, and every container
//! and volume is removed (also by [`crate::engine::Engine::cleanup`] on failure).

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, anyhow, bail};
use nanofleet_build::PluginImage;
use nanofleet_host::runtime::{ContainerSpec, Runtime};
use nanofleet_sdk::{contracts::env, identity::InternalToken};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::{engine::Engine, throughput::median};

/// How often a starting plugin is asked for its tools.
pub const POLL_EVERY: Duration = Duration::from_millis(2);

/// Give up on a plugin that has not answered after this long.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// NanoFleet's host asks a starting plugin once a second.
pub const NANOFLEET_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// One cold start.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    /// Create call → first successful `tools/list`, ms.
    pub total_ms: f64,
    /// The engine's create + start call, ms.
    pub engine_ms: f64,
    /// `State.StartedAt` → first successful `tools/list`, ms.
    pub process_ms: Option<f64>,
}

/// Cold starts of one image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// The plugin package.
    pub package: String,
    /// The image.
    pub image: String,
    /// Median of `total_ms`.
    pub total_ms_median: f64,
    /// Median of `engine_ms`.
    pub engine_ms_median: f64,
    /// Median of `process_ms`.
    pub process_ms_median: Option<f64>,
    /// When NanoFleet's once-a-second probe would first see the median start ready, ms.
    pub nanofleet_probe_sees_it_ms: f64,
    /// When our host's probe (immediately, then backing off from 25 ms) would first see the
    /// median start ready, ms after the container started.
    pub our_probe_sees_it_ms: f64,
    /// Every sample, in order.
    pub samples: Vec<Sample>,
}

/// Runs `reps` cold starts of each image, interleaved.
pub async fn run(
    engine: &Engine,
    images: &[(String, PluginImage)],
    reps: usize,
) -> Result<Vec<Row>> {
    engine
        .rt
        .ensure_network()
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); images.len()];
    for rep in 0..reps {
        for (i, (package, image)) in images.iter().enumerate() {
            let name = engine.plugin_name(&format!("cs-{package}-{rep}"));
            let sample = one(engine, &name, image).await;
            // Removed before anything else happens, whether or not it came up.
            let removed = engine
                .rt
                .remove(&engine.instance.container_name(&name))
                .await;
            let volume = engine.rt.remove_volume(&engine.instance, &name).await;
            let sample = sample.with_context(|| format!("cold start of {}", image.tag))?;
            removed.map_err(|e| anyhow!("{e}"))?;
            volume.map_err(|e| anyhow!("{e}"))?;
            eprintln!(
                "  {package:<8} rep {rep}: ready {:>6.1} ms after create (engine {:>6.1} ms, process {})",
                sample.total_ms,
                sample.engine_ms,
                sample
                    .process_ms
                    .map_or_else(|| "n/a".into(), |ms| format!("{ms:.1} ms")),
            );
            samples[i].push(sample);
        }
    }
    Ok(images
        .iter()
        .zip(samples)
        .map(|((package, image), samples)| {
            let total = median(&mut samples.iter().map(|s| s.total_ms).collect::<Vec<_>>());
            let engine_ms = median(&mut samples.iter().map(|s| s.engine_ms).collect::<Vec<_>>());
            let mut process: Vec<f64> = samples.iter().filter_map(|s| s.process_ms).collect();
            let process_ms_median = (!process.is_empty()).then(|| median(&mut process));
            let after_start = (total - engine_ms).max(0.0);
            Row {
                package: package.clone(),
                image: image.tag.clone(),
                total_ms_median: total,
                engine_ms_median: engine_ms,
                process_ms_median,
                nanofleet_probe_sees_it_ms: nanofleet_probe(total),
                our_probe_sees_it_ms: our_probe(after_start),
                samples,
            }
        })
        .collect())
}

/// NanoFleet's first probe is a second after start, then every second.
fn nanofleet_probe(ready_ms: f64) -> f64 {
    let step = NANOFLEET_PROBE_INTERVAL.as_secs_f64() * 1000.0;
    (ready_ms / step).ceil().max(1.0) * step
}

/// Our host asks at once, then after 25, 50, 100, … ms (doubling, at most 500 ms): the first
/// attempt at or after `ready_ms` (attempt durations ignored).
fn our_probe(ready_ms: f64) -> f64 {
    let (mut at, mut delay) = (0.0, 25.0);
    while at < ready_ms {
        at += delay;
        delay = f64::min(delay * 2.0, 500.0);
    }
    at
}

async fn one(engine: &Engine, name: &str, image: &PluginImage) -> Result<Sample> {
    let m = &image.manifest;
    let mut spec = ContainerSpec::new(name, &image.tag, &m.version, m.mcp_port);
    spec.ui_port = m.ui_port;
    spec.instance = engine.instance.clone();
    let token = InternalToken::generate();
    spec.env = BTreeMap::from([
        (env::NANO_API_URL.into(), "http://127.0.0.1:9".into()),
        (
            env::NANO_INTERNAL_TOKEN.into(),
            token.expose_secret().to_owned(),
        ),
        (env::NANO_PLUGIN_ID.into(), name.to_owned()),
        (env::NANOFLEET_REQUIRE_AGENT_SIGNATURE.into(), "1".into()),
        // As the host sets it for an instance other than the default: the plugin accepts
        // its instance's container name as `Host`.
        (
            env::NANOFLEET_ALLOWED_HOSTS.into(),
            engine.instance.container_name(name),
        ),
    ]);
    let t0 = Instant::now();
    let state = engine
        .rt
        .create_and_start(&spec)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let engine_done = Instant::now();
    let ip = state
        .ip
        .with_context(|| format!("container {} has no address", state.name))?;
    let host = format!("{}:{}", engine.instance.container_name(name), m.mcp_port);
    let deadline = engine_done + READY_TIMEOUT;
    loop {
        if tools_list(ip, m.mcp_port, &host).await {
            break;
        }
        if Instant::now() > deadline {
            bail!("{name} did not answer tools/list within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    let ready = Instant::now();
    let ready_wall = SystemTime::now();
    let started_at = engine
        .rt
        .docker()
        .inspect_container(&state.name, None)
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.started_at)
        .and_then(|s| parse_rfc3339_utc(&s));
    Ok(Sample {
        total_ms: ms(ready - t0),
        engine_ms: ms(engine_done - t0),
        process_ms: started_at
            .and_then(|at| ready_wall.duration_since(at).ok())
            .map(ms),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One `tools/list` over a new connection; `true` when it answers 200 with the tools.
async fn tools_list(ip: IpAddr, port: u16, host: &str) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(SocketAddr::new(ip, port)).await?;
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
        let request = format!(
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(Ok(reply)) => {
            reply.starts_with(b"HTTP/1.1 200") && reply.windows(8).any(|w| w == b"\"tools\":")
        }
        _ => false,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (as the engine writes `StartedAt`) → time.
fn parse_rfc3339_utc(s: &str) -> Option<SystemTime> {
    let (date, time) = s.split_once('T')?;
    let time = time.strip_suffix('Z')?;
    let mut d = date.splitn(3, '-');
    let (y, mo, day): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let (h, mi, sec): (u64, u64, u64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    let digits: String = frac.chars().take(9).collect();
    let nanos: u32 = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    let days = u64::try_from(days_from_civil(y, mo, day)).ok()?;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_timestamps_parse() {
        let t = parse_rfc3339_utc("2024-03-01T12:00:01.5Z").expect("parses");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).expect("after epoch"),
            Duration::new(1_709_294_401, 500_000_000)
        );
        assert!(parse_rfc3339_utc("2024-03-01T12:00:01+01:00").is_none());
    }

    #[test]
    fn probe_schedules() {
        assert_eq!(nanofleet_probe(300.0), 1000.0);
        assert_eq!(nanofleet_probe(1200.0), 2000.0);
        assert_eq!(our_probe(0.0), 0.0);
        assert_eq!(our_probe(60.0), 75.0);
        assert_eq!(our_probe(200.0), 375.0);
    }
}
