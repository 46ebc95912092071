//! `nanofleet serve`: the host's HTTP API and its reconciler, until SIGINT or SIGTERM.
//!
//! The API listens on `--listen` (for people, the dashboard and `--server`) and on the
//! gateway of the plugins' internal network with the same port (for plugins' callbacks).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use nanofleet_host::{
    Host, HostEvent,
    api::{self, ApiConfig, BearerToken, StoreMessages},
};
use tokio::net::TcpListener;
use tokio::sync::{broadcast::error::RecvError, watch};
use tokio::task::JoinSet;

use crate::{
    cli::ServeArgs,
    context::Context,
    error::CliError,
    output::{clean, note},
};

/// How long requests in flight (and a reconcile pass) may take to finish after a signal.
const GRACE: Duration = Duration::from_secs(10);

/// Serves until SIGINT or SIGTERM, then shuts down gracefully and exits with 0.
pub async fn run(ctx: &Context, args: &ServeArgs) -> Result<u8, CliError> {
    // The library's own lines (a failed reconcile pass, an engine event stream that broke)
    // go to stderr, set up in `main` for every command (`-v`, RUST_LOG; info for a server).
    let engine = ctx.engine()?;
    engine.ping().await?;
    // Where plugins call back: on one engine, its internal network's gateway on this machine;
    // on a swarm, this process itself, attached to the overlay, by the name in --api-url.
    let gateway = engine.host_gateway().await?;
    if gateway.is_none() && !ctx.api_url_given() {
        return Err(CliError::new(format!(
            "on the {} engine plugins reach the host by name: run `nanofleet serve` in a \
             container attached to the {} network and give --api-url http://<its name>:<port>",
            ctx.config().engine,
            nanofleet_host::names::NETWORK
        )));
    }

    let primary = bind(args.listen, "").await?;
    let port = local_port(&primary)?;
    let mut listeners = vec![(primary, "")];
    if let Some(gateway) = gateway
        && !covers(args.listen.ip(), gateway)
    {
        let for_plugins = bind(
            SocketAddr::new(gateway, port),
            ", where plugins call back on the internal network",
        )
        .await?;
        listeners.push((for_plugins, " (for plugins)"));
    }

    // The same port on every start: the proxy's address is part of plugins' environment, and
    // a new one would recreate their containers.
    let egress_port = match args.egress_port {
        Some(port) => port,
        None if port == 0 => 0,
        None => port.checked_add(1).unwrap_or(0),
    };
    let egress_listener = bind(
        SocketAddr::new(gateway.unwrap_or(args.listen.ip()), egress_port),
        ", the egress proxy for plugins with a network allow-list (choose another with --egress-port)",
    )
    .await?;
    let egress_addr = egress_listener
        .local_addr()
        .map_err(|e| CliError::new(format!("cannot read the egress proxy's address: {e}")))?;

    let mut config = ctx.config().clone();
    if let (false, Some(gateway)) = (ctx.api_url_given(), gateway) {
        config.api_url = format!("http://{}", SocketAddr::new(gateway, port));
    }
    config.egress_proxy = Some(format!("http://{egress_addr}"));
    let data_dir = config.data_dir.clone();
    // One writer per data directory: held until the process ends (see `crate::writer`).
    let _writer =
        crate::writer::ServeLock::acquire(&data_dir, &format!("http://127.0.0.1:{port}"))?;
    let host = Host::open(config, engine).await?;
    let (bearer, created) =
        BearerToken::load_or_create(&data_dir).map_err(|e| CliError::new(clean(&e.to_string())))?;
    if let Some(token) = created {
        show_new_token(&token, &data_dir, args.listen, port);
    }
    let app = api::router(
        host.clone(),
        Arc::new(bearer),
        Arc::new(StoreMessages::new(host.store().clone())),
        ApiConfig {
            frame_ancestors: args.frame_ancestors.clone(),
            ..ApiConfig::new(&data_dir)
        },
    );

    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    // Everything is said before anything answers: whoever waits for `/healthz` has read it.
    let listeners: Vec<(TcpListener, String)> = listeners
        .into_iter()
        .map(|(listener, role)| {
            let addr = listener
                .local_addr()
                .map_or_else(|_| "?".to_owned(), |a| a.to_string());
            note(format!("listening on http://{addr}{role}"));
            (listener, addr)
        })
        .collect();
    if let Some((_, addr)) = listeners.first() {
        note(format!(
            "the dashboard is at http://{addr}/ (sign in with the API token)"
        ));
    }
    note(format!(
        "plugins reach the API at {}; reconciling every {}s and whenever a container stops",
        clean(&host.config().api_url),
        args.reconcile_interval
    ));
    note(format!(
        "plugins with a network allow-list reach it through the egress proxy on http://{egress_addr}"
    ));
    for (listener, addr) in listeners {
        // Header, idle and body timeouts and a connection cap, as the plugins have.
        let serving = nanofleet_sdk::connections::serve(
            listener,
            app.clone(),
            nanofleet_sdk::connections::Limits::default(),
            signalled(stopped.clone()),
        );
        tasks.spawn(async move {
            serving
                .await
                .map_err(|e| format!("the API on {addr} stopped: {e}"))
        });
    }
    tokio::spawn(nanofleet_host::egress::serve(
        egress_listener,
        host.clone(),
        signalled(stopped.clone()),
    ));
    let reconciler = host.clone();
    let interval = Duration::from_secs(args.reconcile_interval);
    let until = signalled(stopped.clone());
    tasks.spawn(async move {
        reconciler.run_reconciler(interval, until).await;
        Ok(())
    });
    tokio::spawn(log_events(host.clone(), signalled(stopped)));

    // Until a signal, or until a server stops by itself (which it should never do).
    let failure = tokio::select! {
        signal = shutdown_signal() => {
            note(format!("{signal}: stopping (requests in flight have {}s to finish)", GRACE.as_secs()));
            None
        }
        Some(joined) = tasks.join_next() => Some(outcome(joined)),
    };
    // Nobody may be listening any more: that is fine.
    let _ = stop.send(true);
    let finished = tokio::time::timeout(GRACE, async {
        while let Some(joined) = tasks.join_next().await {
            if let Err(message) = outcome(joined) {
                note(format!("warning: {message}"));
            }
        }
    })
    .await;
    if finished.is_err() {
        note(format!(
            "warning: {} still running after {}s; closing {}",
            crate::output::plural(tasks.len(), "task was", "tasks were"),
            GRACE.as_secs(),
            if tasks.len() == 1 { "it" } else { "them" }
        ));
        tasks.abort_all();
    }
    match failure {
        Some(Err(message)) => Err(CliError::new(message)),
        Some(Ok(())) => Err(CliError::new("the API stopped serving by itself")),
        None => {
            note("stopped");
            Ok(0)
        }
    }
}

/// Binds `addr`; `role` ends the error message.
async fn bind(addr: SocketAddr, role: &str) -> Result<TcpListener, CliError> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            io::ErrorKind::AddrInUse => {
                " (is another nanofleet serve running? pick another port with --listen)"
            }
            io::ErrorKind::AddrNotAvailable => " (this machine has no such address)",
            io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
            _ => "",
        };
        CliError::new(format!("cannot listen on {addr}{role}: {e}{hint}"))
    })
}

fn local_port(listener: &TcpListener) -> Result<u16, CliError> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| CliError::new(format!("cannot read the address listened on: {e}")))
}

/// Whether listening on `listen` already reaches `gateway` (the same address, or every
/// address of its family).
fn covers(listen: IpAddr, gateway: IpAddr) -> bool {
    listen == gateway || (listen.is_unspecified() && listen.is_ipv4() == gateway.is_ipv4())
}

/// The token, once, with how to use it.
fn show_new_token(token: &str, data_dir: &std::path::Path, listen: SocketAddr, port: u16) {
    let ip = if listen.ip().is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        listen.ip()
    };
    let url = format!("http://{}", SocketAddr::new(ip, port));
    note(format!("API token: {token}"));
    note(format!(
        "  (created now and shown this once; it is kept in {}, readable by you only)",
        clean(
            &data_dir
                .join(api::auth::API_TOKEN_FILE)
                .display()
                .to_string()
        )
    ));
    note(format!(
        "  use it: export NANOFLEET_TOKEN=<the token>; nanofleet --server {url} ls"
    ));
    note("  HTTP clients send it as `Authorization: Bearer <the token>`");
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn signalled(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone: stop too.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The name of the first of SIGINT and SIGTERM to arrive.
async fn shutdown_signal() -> &'static str {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => "SIGINT",
        () = terminate => "SIGTERM",
    }
}

/// A finished task's result.
fn outcome(joined: Result<Result<(), String>, tokio::task::JoinError>) -> Result<(), String> {
    match joined {
        Ok(result) => result,
        Err(e) if e.is_cancelled() => Ok(()),
        Err(e) => Err(format!("a server task failed: {e}")),
    }
}

/// One line on stderr per change the host reports, until `until`.
async fn log_events(host: Host, until: impl Future<Output = ()>) {
    let mut events = host.subscribe();
    tokio::pin!(until);
    loop {
        let event = tokio::select! {
            () = &mut until => return,
            event = events.recv() => event,
        };
        match event {
            Ok(HostEvent::PluginStatus { plugin, status }) => {
                note(format!("plugin {}: {status}", clean(&plugin)));
            }
            Ok(HostEvent::AgentConfigChanged {
                agent_id,
                path,
                warnings,
                ..
            }) => {
                note(format!(
                    "rewrote {} (agent {})",
                    clean(&path.display().to_string()),
                    clean(&agent_id)
                ));
                for warning in warnings {
                    note(format!("warning: {}", clean(&warning)));
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => note(format!("({missed} more changes not shown)")),
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_covers_the_gateway() {
        let gateway = IpAddr::from([172, 18, 0, 1]);
        assert!(covers(IpAddr::from([0, 0, 0, 0]), gateway));
        assert!(covers(gateway, gateway));
        assert!(!covers(IpAddr::from([127, 0, 0, 1]), gateway));
    }
}
