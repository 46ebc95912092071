//! The HTTP client the SDK uses, for a plugin's own outbound calls: [`client`] and
//! [`client_builder`] give a [`reqwest::Client`] configured as [`NanoApi`](crate::NanoApi)'s is
//! (timeouts, and TLS when the `tls` feature is on), and [`reqwest`] is re-exported so a plugin
//! crate needs no dependency of its own.
//!
//! # HTTPS
//!
//! A plugin image is `FROM scratch`: it has no CA bundle for a TLS library to load. With the
//! SDK's `tls` feature, the client speaks HTTPS through rustls and trusts the Mozilla root
//! certificates of the `webpki-roots` crate, compiled into the binary, and nothing from the file
//! system:
//!
//! ```toml
//! [dependencies]
//! nanofleet-sdk = { version = "0.1", features = ["tls"] }
//! ```
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = nanofleet_sdk::http::client()?;
//! let status = client.get("https://api.example.com/v1/status").send().await?.status();
//! # Ok(()) }
//! ```
//!
//! Without the feature the client speaks plain HTTP only and an `https://` request fails with an
//! error from reqwest saying the scheme is not supported. Building a static binary with the
//! feature needs a C compiler for the target (rustls's `ring` backend has some C and assembly).

use std::time::Duration;

/// reqwest, the HTTP client library the SDK is built on, for the request and response types.
pub use reqwest;

/// How long [`client`] waits to establish a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether this build of the SDK can make HTTPS requests (the `tls` feature).
pub const HTTPS: bool = cfg!(feature = "tls");

/// A client with the SDK's configuration: a [`CONNECT_TIMEOUT`], and HTTPS with built-in roots
/// when the `tls` feature is on. Cheap to clone; make one and keep it (in the plugin's state)
/// rather than one per call, so connections are reused.
///
/// # Errors
///
/// When the TLS configuration cannot be built, which does not happen with the roots compiled in.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    client_builder().build()
}

/// The builder behind [`client`], to adjust before building: a total timeout, default headers,
/// a user agent. [`NanoApi`](crate::NanoApi) starts from it too.
pub fn client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
    #[cfg(feature = "tls")]
    let builder = match tls_config() {
        Ok(config) => builder.tls_backend_preconfigured(config),
        // Left without a TLS backend, `build` fails and says why.
        Err(e) => {
            tracing::error!(error = %e, "cannot configure TLS for the HTTP client");
            builder
        }
    };
    builder
}

/// rustls with the ring provider, its default protocol versions (TLS 1.2 and 1.3), and the
/// webpki roots only.
#[cfg(feature = "tls")]
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Accepts one connection and returns the first bytes the client sends.
    async fn first_bytes_sent_to(listener: tokio::net::TcpListener) -> std::io::Result<Vec<u8>> {
        let (mut socket, _) = listener.accept().await?;
        let mut buf = vec![0; 2048];
        let n = socket.read(&mut buf).await?;
        buf.truncate(n);
        Ok(buf)
    }

    #[cfg(feature = "tls")]
    #[tokio::test]
    async fn https_urls_open_a_tls_connection_naming_the_host()
    -> Result<(), Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let server = tokio::spawn(first_bytes_sent_to(listener));
        // `localhost` rather than the address: SNI carries names, not addresses.
        let url = format!("https://localhost:{port}/v1/status");
        let sent = client()?
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let hello = server.await??;
        // A TLS handshake record (22) holding a ClientHello (1) that names the server.
        assert_eq!(hello.first(), Some(&22), "{hello:?}");
        assert_eq!(hello.get(5), Some(&1), "{hello:?}");
        assert!(hello.windows(9).any(|w| w == b"localhost"), "{hello:?}");
        // The server hung up without answering: a connection error, not "unsupported scheme".
        let err = sent.expect_err("no TLS server answered");
        assert!(!err.is_builder(), "{err:?}");
        Ok(())
    }

    #[cfg(feature = "tls")]
    #[test]
    fn the_roots_are_compiled_in() -> Result<(), rustls::Error> {
        let config = tls_config()?;
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        assert!(config.alpn_protocols.is_empty());
        Ok(())
    }

    #[cfg(not(feature = "tls"))]
    #[tokio::test]
    async fn without_tls_an_https_request_fails_before_connecting()
    -> Result<(), Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let err = client()?
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .expect_err("no TLS in this build");
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "connected anyway: {err:?}");
        Ok(())
    }

    #[tokio::test]
    async fn http_urls_work_in_every_build() -> Result<(), Box<dyn std::error::Error>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let server = tokio::spawn(first_bytes_sent_to(listener));
        let _ = client()?
            .get(format!("http://127.0.0.1:{port}/ping"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let request = server.await??;
        assert!(
            request.starts_with(b"GET /ping HTTP/1.1\r\n"),
            "{request:?}"
        );
        Ok(())
    }
}
