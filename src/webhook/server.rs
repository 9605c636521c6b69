//! The HTTPS listener: TLS by rustls, HTTP/1.1 by hyper, requests routed by [`super::handler::router`].

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A running admission server.
pub struct WebhookServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WebhookServer {
    /// Binds `addr` and serves `router` over TLS with `tls` until [`WebhookServer::stop`].
    pub async fn start(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        router: axum::Router,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let acceptor = TlsAcceptor::from(tls);
        let task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(error) => {
                            tracing::warn!(%error, "webhook accept failed");
                            continue;
                        }
                    },
                    _ = stopped.changed() => break,
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let service = TowerToHyperService::new(router.clone());
                let mut stop_conn = stopped.clone();
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(error) => {
                            tracing::debug!(%peer, %error, "webhook TLS handshake failed");
                            return;
                        }
                    };
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service);
                    let mut conn = std::pin::pin!(conn);
                    tokio::select! {
                        result = conn.as_mut() => if let Err(error) = result {
                            tracing::debug!(%peer, %error, "webhook connection ended with an error");
                        },
                        _ = stop_conn.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
        });
        tracing::info!(addr = %local_addr, "admission webhook listening (HTTPS)");
        Ok(WebhookServer {
            local_addr,
            stop,
            task,
        })
    }

    /// The bound address (the port is chosen by the system when `addr` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets open requests finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
