//! The host's HTTP API as `nanofleet serve` serves it (the same router, connection limits and
//! timeouts), on a store in `<data-dir>` with `<agents>` registered agents and no engine: what
//! the soak loads. Writes the API token to `<data-dir>/api-token` (as `serve` does).
//!
//! Usage: `host-api <addr> <data-dir> [<agents>]` (100 agents by default).

use std::sync::Arc;

use anyhow::Context as _;
use nanofleet_host::{
    Host, HostConfig,
    api::{self, ApiConfig, BearerToken, StoreMessages},
    runtime::{Offline, Runtime, RuntimeError},
    store::{AgentRecord, Store},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .context("usage: host-api <addr> <data-dir> [<agents>]")?;
    let data_dir = std::path::PathBuf::from(args.next().context("the data directory")?);
    let agents: usize = args.next().map_or(Ok(100), |n| n.parse())?;
    let engine: Arc<dyn Runtime> = Arc::new(Offline::new(RuntimeError::Unreachable {
        engine: "the Docker engine",
        endpoint: "none".into(),
        hint: "the soak loads the API without an engine".into(),
    }));
    // `Host::open` would check the engine; the API's agent routes need only the store.
    let store = Store::open(&data_dir)?;
    let host = Host::with_store(HostConfig::new(&data_dir), engine, store);
    for i in 0..agents {
        let workspace = data_dir.join("agents").join(i.to_string());
        std::fs::create_dir_all(&workspace)?;
        let id = format!("agent-{i}");
        host.register_agent(AgentRecord::new(&id, &id, &workspace))
            .await?;
    }
    let (bearer, _) = BearerToken::load_or_create(&data_dir)?;
    let app = api::router(
        host.clone(),
        Arc::new(bearer),
        Arc::new(StoreMessages::new(host.store().clone())),
        ApiConfig::new(&data_dir),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    nanofleet_sdk::connections::serve(
        listener,
        app,
        nanofleet_sdk::connections::Limits::default(),
        std::future::pending(),
    )
    .await?;
    Ok(())
}
