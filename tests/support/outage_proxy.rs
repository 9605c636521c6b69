//! A TCP proxy for outage tests of the S3 evidence store (`tests/evidence_s3*.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy in front of an S3 server that goes down (drops every connection) as soon as it sees a manifest PUT while
/// armed: the store fails after the documents are written and before the manifest is.
pub async fn proxy(upstream: SocketAddr, armed: Arc<AtomicBool>, down: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            if down.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let (armed, down) = (armed.clone(), down.clone());
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = cr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        let chunk = &buf[..n];
                        let text = String::from_utf8_lossy(chunk);
                        if armed.load(Ordering::SeqCst)
                            && text.contains("PUT /")
                            && text.contains("/manifests/")
                        {
                            down.store(true, Ordering::SeqCst);
                            break;
                        }
                        if sw.write_all(chunk).await.is_err() {
                            break;
                        }
                    }
                };
                let back = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::select! { _ = up => {}, _ = back => {} }
            });
        }
    });
    port
}
