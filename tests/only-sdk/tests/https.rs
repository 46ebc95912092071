//! With the SDK's `tls` feature, a plugin's own HTTPS calls go out over TLS with the SDK's
//! client, and nothing but the SDK as a dependency.

use std::{io::Read, net::TcpListener, time::Duration};

#[tokio::test]
async fn the_sdk_client_speaks_tls_to_https_urls() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    // Reads what the client sends first, then hangs up.
    let server = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let (mut socket, _) = listener.accept()?;
        let mut hello = vec![0; 2048];
        let n = socket.read(&mut hello)?;
        hello.truncate(n);
        Ok(hello)
    });
    let client = nanofleet_sdk::http::client()?;
    let sent = client
        .get(format!("https://localhost:{port}/v1/forecast"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let hello = server.join().map_err(|_| "server thread panicked")??;
    // A TLS handshake record holding a ClientHello for `localhost`.
    assert_eq!(hello.first(), Some(&22), "{hello:?}");
    assert_eq!(hello.get(5), Some(&1), "{hello:?}");
    assert!(hello.windows(9).any(|w| w == b"localhost"), "{hello:?}");
    assert!(sent.is_err(), "nothing answered the handshake");
    Ok(())
}
