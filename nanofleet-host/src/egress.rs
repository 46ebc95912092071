//! The egress proxy: how a plugin whose manifest lists destinations
//! (`"network": {"allow": [...]}`) reaches those and nothing else.
//!
//! Such a plugin stays on the internal network, which has no route out, exactly like a plugin
//! with no network at all. Its only way out is this proxy, which the host runs on the internal
//! network's gateway (next to the callback API) and names in the plugin's `HTTP_PROXY` /
//! `HTTPS_PROXY`, with the plugin's name and internal token as the proxy credentials. For each
//! request the proxy authenticates the plugin, reads its grant from the store, and opens the
//! connection itself, only to a destination of the list:
//!
//! - by **name** (`api.example.com:443`, `*.example.com:443`): the proxy resolves the name; a
//!   wildcard never leads to a loopback, link-local, unspecified or multicast address, so a
//!   name under an allowed domain cannot be pointed at the host itself;
//! - by **address** (`10.0.0.5:8080`, `[::1]:80`): only a request for that address, never a
//!   name that happens to resolve to it.
//!
//! `CONNECT` carries TLS (and anything else) end to end; plain `http://` requests are
//! forwarded. Why a proxy rather than the engine's firewall: Docker has no per-container
//! egress rules (only all or nothing per network), iptables rules by address cannot follow
//! names whose addresses change, and a proxy is what HTTP clients, our SDK's included, already
//! honour through `HTTP_PROXY`. Without a running proxy (`nanofleet serve` runs it) such a
//! plugin reaches nothing: the grant fails closed.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use base64::Engine as _;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use nanofleet_sdk::manifest::{Destination, DestinationHost, Network};
use tokio::net::{TcpListener, TcpStream};

use crate::Host;

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting to a destination may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections the proxy holds at once, tunnels included; more are closed at once,
/// so that plugins cannot exhaust the host's descriptors through it.
const MAX_CONNECTIONS: usize = 1024;

/// The realm of the `Proxy-Authenticate` challenge.
const REALM: &str = "Basic realm=\"nanofleet-egress\"";

/// The environment a plugin with an allow-list gets: the proxy for every HTTP client that
/// honours the usual variables, with the plugin's credentials, and the host's callback API
/// (`api_host`) reached directly.
pub fn proxy_env(proxy: &str, plugin: &str, token: &str, api_host: &str) -> Vec<(String, String)> {
    let with_credentials = match proxy.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{plugin}:{}@{rest}", percent_encode(token)),
        None => format!("http://{plugin}:{}@{proxy}", percent_encode(token)),
    };
    let mut env = Vec::new();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        env.push((name.to_owned(), with_credentials.clone()));
    }
    for name in ["NO_PROXY", "no_proxy"] {
        env.push((name.to_owned(), api_host.to_owned()));
    }
    env
}

/// Everything but RFC 3986's unreserved characters, escaped in a URL's userinfo.
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, USERINFO).to_string()
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// Serves the proxy on `listener` until `shutdown` completes; connections in flight end with
/// their clients.
pub async fn serve(listener: TcpListener, host: Host, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, usually: wait rather than spin.
                tracing::warn!(error = %e, "egress proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = std::sync::Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!("egress proxy: {MAX_CONNECTIONS} connections open, closing a new one");
            drop(stream);
            continue;
        };
        let host = host.clone();
        // Held for as long as the connection, and any tunnel it became, lasts.
        let slot = std::sync::Arc::new(slot);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let host = host.clone();
                let slot = std::sync::Arc::clone(&slot);
                async move { Ok::<_, Infallible>(handle(&host, request, slot).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "egress proxy: connection ended");
            }
        });
    }
}

/// A connection's place among [`MAX_CONNECTIONS`].
type Slot = std::sync::Arc<tokio::sync::OwnedSemaphorePermit>;

async fn handle(host: &Host, request: Request<Incoming>, slot: Slot) -> Response<Body> {
    let plugin = match authenticate(host, &request).await {
        Ok(plugin) => plugin,
        Err(response) => return response,
    };
    let Some((name, port)) = target(&request) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the egress proxy takes CONNECT host:port or an absolute http:// URL".into(),
        );
    };
    let network = match host.store().get_plugin(&plugin).await {
        Ok(Some(record)) => record.permissions().network,
        Ok(None) => {
            return refuse(
                StatusCode::FORBIDDEN,
                format!("plugin `{plugin}` is not installed"),
            );
        }
        Err(e) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the host store failed: {e}"),
            );
        }
    };
    let stream = match connect(&network, &name, port).await {
        Ok(stream) => stream,
        Err(refusal) => {
            tracing::info!(plugin, destination = %format!("{name}:{port}"), "egress refused: {}", refusal.1);
            return refuse(refusal.0, format!("{}: {}", plugin, refusal.1));
        }
    };
    tracing::debug!(plugin, destination = %format!("{name}:{port}"), "egress allowed");
    if request.method() == Method::CONNECT {
        tunnel(request, stream, slot)
    } else {
        forward(request, stream).await
    }
}

/// The plugin named by valid `Proxy-Authorization` credentials, or the refusal.
async fn authenticate(host: &Host, request: &Request<Incoming>) -> Result<String, Response<Body>> {
    let challenge = || {
        let mut response = refuse(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            "the egress proxy needs the plugin's name and internal token as credentials".into(),
        );
        response
            .headers_mut()
            .insert(header::PROXY_AUTHENTICATE, HeaderValue::from_static(REALM));
        response
    };
    let credentials = request
        .headers()
        .get(header::PROXY_AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .ok_or_else(challenge)?;
    let (plugin, secret) = credentials.split_once(':').ok_or_else(challenge)?;
    // Clients send the userinfo of the proxy URL as they found it, percent-encoded or not.
    let secret = percent_decode(secret).unwrap_or_else(|| secret.to_owned());
    match host.store().plugin_token(plugin).await {
        Ok(Some(token)) if token.matches(secret.as_bytes()) => Ok(plugin.to_owned()),
        Ok(_) => Err(challenge()),
        Err(e) => Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the host store failed: {e}"),
        )),
    }
}

/// The destination of a `CONNECT host:port` or of an absolute `http://` URL.
fn target(request: &Request<Incoming>) -> Option<(String, u16)> {
    let uri = request.uri();
    if request.method() == Method::CONNECT {
        let authority = uri.authority()?;
        return Some((authority.host().to_owned(), authority.port_u16()?));
    }
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let authority = uri.authority()?;
    Some((
        authority.host().to_owned(),
        authority.port_u16().unwrap_or(80),
    ))
}

/// Why a destination is refused: the status and the sentence.
type Refusal = (StatusCode, String);

/// Connects to `name:port` if `network` allows it, as the module says.
async fn connect(network: &Network, name: &str, port: u16) -> Result<TcpStream, Refusal> {
    let list = match network {
        Network::Allow(list) => list,
        Network::Unrestricted => {
            return Err((
                StatusCode::FORBIDDEN,
                "unrestricted plugins reach the network directly, not through this proxy".into(),
            ));
        }
        Network::None => return Err((StatusCode::FORBIDDEN, "no network is granted".into())),
    };
    let destinations: Vec<Destination> = list
        .iter()
        .filter_map(|d| Destination::parse(d).ok())
        .collect();
    let not_listed = || {
        (
            StatusCode::FORBIDDEN,
            format!("`{name}:{port}` is not in the allow-list"),
        )
    };
    // `[::1]` in a URL is the address ::1.
    let literal = name.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = if let Ok(ip) = literal.parse::<IpAddr>() {
        if !destinations.iter().any(|d| d.allows_ip(ip, port)) {
            return Err(not_listed());
        }
        vec![SocketAddr::new(ip, port)]
    } else {
        let Some(matched) = destinations.iter().find(|d| d.allows_name(name, port)) else {
            return Err(not_listed());
        };
        let wildcard = matches!(matched.host, DestinationHost::Wildcard(_));
        let resolved = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((name, port)))
            .await
            .map_err(|_| {
                (
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("resolving `{name}` timed out"),
                )
            })?
            .map_err(|e| {
                (
                    StatusCode::BAD_GATEWAY,
                    format!("cannot resolve `{name}`: {e}"),
                )
            })?;
        let usable = usable_addresses(resolved, wildcard);
        if usable.is_empty() {
            return Err((
                StatusCode::FORBIDDEN,
                format!("`{name}` resolves to no address a wildcard may lead to"),
            ));
        }
        usable
    };
    let mut last = String::new();
    for addr in addresses {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = format!("cannot connect to {addr}: {e}"),
            Err(_) => last = format!("connecting to {addr} timed out"),
        }
    }
    Err((StatusCode::BAD_GATEWAY, last))
}

/// The resolved addresses a connection may go to: all of them for a name listed as such, none
/// of the special ones for a name matched by a wildcard.
fn usable_addresses(resolved: impl Iterator<Item = SocketAddr>, wildcard: bool) -> Vec<SocketAddr> {
    resolved
        .filter(|addr| !(wildcard && is_special(addr.ip())))
        .collect()
}

/// Addresses a name under a wildcard must not lead to: this machine and its links.
fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unicast_link_local()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_special(IpAddr::V4(v4)))
        }
    }
}

/// Answers `200` and joins the client's upgraded connection to `stream`.
fn tunnel(request: Request<Incoming>, stream: TcpStream, slot: Slot) -> Response<Body> {
    tokio::spawn(async move {
        let _slot = slot;
        match hyper::upgrade::on(request).await {
            Ok(upgraded) => {
                let mut client = TokioIo::new(upgraded);
                let mut stream = stream;
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut stream).await {
                    tracing::debug!(error = %e, "egress tunnel ended");
                }
            }
            Err(e) => tracing::debug!(error = %e, "egress proxy: the client did not upgrade"),
        }
    });
    Response::new(Body::empty())
}

/// Sends a plain-HTTP request on to its destination over `stream`, in origin form and without
/// the proxy's own headers, and streams the answer back.
async fn forward(request: Request<Incoming>, stream: TcpStream) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let origin_form = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .unwrap_or_default();
    parts.uri = origin_form;
    for hop in [
        header::PROXY_AUTHORIZATION,
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
    ] {
        parts.headers.remove(hop);
    }
    parts.headers.remove("proxy-connection");
    let request = Request::from_parts(parts, body);
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_GATEWAY,
                    format!("the destination failed: {e}"),
                );
            }
        };
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "egress proxy: destination connection ended");
        }
    });
    match sender.send_request(request).await {
        Ok(response) => response.map(Body::new),
        Err(e) => refuse(
            StatusCode::BAD_GATEWAY,
            format!("the destination failed: {e}"),
        ),
    }
}

fn refuse(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("nanofleet egress: {message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_names_the_proxy_with_credentials_and_skips_the_api() {
        let env = proxy_env("http://172.18.0.1:8788", "notes", "a/b@c", "172.18.0.1");
        let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(
            get("HTTPS_PROXY"),
            Some("http://notes:a%2Fb%40c@172.18.0.1:8788")
        );
        assert_eq!(get("http_proxy"), get("HTTP_PROXY"));
        assert_eq!(get("NO_PROXY"), Some("172.18.0.1"));
        assert_eq!(percent_decode("a%2Fb%40c").as_deref(), Some("a/b@c"));
    }

    #[test]
    fn wildcards_never_lead_to_this_machine() {
        for special in [
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(
                is_special(special.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
                "{special}"
            );
        }
        assert!(!is_special(IpAddr::from([93, 184, 216, 34])));
    }

    #[tokio::test]
    async fn only_listed_destinations_are_connected_to() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let allowed = Network::Allow(vec![
            format!("127.0.0.1:{port}"),
            format!("*.localhost:{port}"),
        ]);
        assert!(connect(&allowed, "127.0.0.1", port).await.is_ok());
        let other_port = connect(&allowed, "127.0.0.1", port.wrapping_add(1)).await;
        assert_eq!(other_port.err().map(|r| r.0), Some(StatusCode::FORBIDDEN));
        // A name resolving to a listed address is still not that address.
        let by_name = connect(&allowed, "localhost", port).await;
        assert_eq!(by_name.err().map(|r| r.0), Some(StatusCode::FORBIDDEN));
        // A wildcard never leads to loopback; a name listed as such may.
        let resolved = [
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from(([93, 184, 216, 34], port)),
        ];
        assert_eq!(usable_addresses(resolved.into_iter(), true), [resolved[1]]);
        assert_eq!(usable_addresses(resolved.into_iter(), false), resolved);
        for network in [Network::None, Network::Unrestricted] {
            let refused = connect(&network, "127.0.0.1", port).await;
            assert_eq!(refused.err().map(|r| r.0), Some(StatusCode::FORBIDDEN));
        }
    }
}
