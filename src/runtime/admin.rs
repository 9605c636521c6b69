//! The admin HTTP server: liveness, readiness and metrics on one port (`--admin-addr`).
//!
//! - `/healthz`: 200 while the process serves requests.
//! - `/readyz`: 200 once the Control watch has completed its initial list, on the leader and on a standby alike
//!   (a standby keeps its caches warm and is ready to take over); 503 before, with the reason in the body.
//! - `/metrics`: every [`Metrics`] family in the Prometheus text format.
//!
//! It only reads shared state; it never talks to the API server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::runtime::leader::Leadership;
use crate::runtime::metrics::{self, Metrics};

/// Whether the Control watch has completed its initial list. Clones share the state.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the Control store as synced: from now on `/readyz` answers 200.
    pub fn mark_synced(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// True once [`Readiness::mark_synced`] was called.
    pub fn is_synced(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What the admin endpoints read.
#[derive(Clone, Debug)]
pub struct AdminState {
    /// The registry served on `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Gates `/readyz`.
    pub readiness: Readiness,
    /// Named in the `/readyz` body (leader or standby).
    pub leadership: Leadership,
}

/// The admin routes, servable with [`axum::serve()`] or testable in-process with `tower::ServiceExt::oneshot`.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if !state.readiness.is_synced() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the Control watch has not completed its initial list\n",
        );
    }
    if state.leadership.is_leader() {
        (StatusCode::OK, "ready: controls synced; leader\n")
    } else {
        (
            StatusCode::OK,
            "ready: controls synced; standby (another replica leads)\n",
        )
    }
}

async fn metrics_text(State(state): State<AdminState>) -> Response {
    match state.metrics.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "could not encode metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not encode metrics\n",
            )
                .into_response()
        }
    }
}

/// The admin server running on its own task.
pub struct AdminServer {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl AdminServer {
    /// Binds `addr` and serves [`router`] until [`AdminServer::stop`]. Fails when the address cannot be bound.
    pub async fn start(addr: SocketAddr, state: AdminState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            axum::serve(listener, router(state))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        tracing::info!(addr = %local_addr, "admin server listening (/healthz, /readyz, /metrics)");
        Ok(AdminServer {
            local_addr,
            stop,
            task,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits for open requests to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "admin server failed"),
            Err(error) => tracing::warn!(%error, "admin server task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::api::Criterion;
    use crate::engine::evaluate::Compliance;

    fn state() -> AdminState {
        AdminState {
            metrics: Arc::new(Metrics::new()),
            readiness: Readiness::default(),
            leadership: Leadership::always(),
        }
    }

    async fn get(state: &AdminState, path: &str) -> (StatusCode, Option<String>, String) {
        let response = router(state.clone())
            .oneshot(
                Request::get(path)
                    .body(Body::empty())
                    .expect("valid request"),
            )
            .await
            .expect("the router is infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body readable")
            .to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).expect("utf-8 body"),
        )
    }

    #[tokio::test]
    async fn healthz_is_ok_from_the_start() {
        let (status, _, body) = get(&state(), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ok\n");
    }

    #[tokio::test]
    async fn readyz_waits_for_the_control_watch_to_sync() {
        let s = state();
        let (status, _, body) = get(&s, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("initial list"), "{body}");

        s.readiness.mark_synced();
        let (status, _, body) = get(&s, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("leader"), "{body}");
    }

    #[tokio::test]
    async fn a_synced_standby_is_ready_too() {
        let s = AdminState {
            leadership: Leadership::standby(),
            ..state()
        };
        assert_eq!(
            get(&s, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE,
            "not synced"
        );
        s.readiness.mark_synced();
        let (status, _, body) = get(&s, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("standby"), "{body}");
    }

    #[tokio::test]
    async fn metrics_show_compliance_and_drop_removed_series() {
        let s = state();
        s.metrics.set_compliance(
            "mfa-privileged-access",
            &[Criterion("CC6.1".into()), Criterion("CC6.3".into())],
            Some(Compliance::NonCompliant),
        );
        let (status, content_type, body) = get(&s, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            content_type.as_deref(),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert!(
            body.contains(
                "soc2_control_compliant{control=\"mfa-privileged-access\",criterion=\"CC6.1\"} 0\n"
            ),
            "{body}"
        );
        assert!(
            body.contains(
                "soc2_control_compliant{control=\"mfa-privileged-access\",criterion=\"CC6.3\"} 0\n"
            ),
            "{body}"
        );

        // CC6.3 is removed from the control and it becomes compliant.
        s.metrics.set_compliance(
            "mfa-privileged-access",
            &[Criterion("CC6.1".into())],
            Some(Compliance::Compliant),
        );
        let (_, _, body) = get(&s, "/metrics").await;
        assert!(
            body.contains(
                "soc2_control_compliant{control=\"mfa-privileged-access\",criterion=\"CC6.1\"} 1\n"
            ),
            "{body}"
        );
        assert!(!body.contains("criterion=\"CC6.3\""), "{body}");

        // The control is deleted.
        s.metrics.forget_control("mfa-privileged-access");
        let (_, _, body) = get(&s, "/metrics").await;
        assert!(!body.contains("mfa-privileged-access"), "{body}");
        assert!(body.contains("soc2_leader 0\n"), "{body}");
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        assert_eq!(get(&state(), "/nope").await.0, StatusCode::NOT_FOUND);
    }

    /// The real server on a loopback port answers and stops when asked.
    #[tokio::test]
    async fn server_serves_on_loopback_and_stops() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let s = state();
        s.readiness.mark_synced();
        let server = AdminServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), s)
            .await
            .expect("bind a free loopback port");
        let addr = server.local_addr();
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("send request");
        let mut response = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_string(&mut response),
        )
        .await
        .expect("the server answers")
        .expect("read response");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.ends_with("ready: controls synced; leader\n"),
            "{response}"
        );

        tokio::time::timeout(std::time::Duration::from_secs(10), server.stop())
            .await
            .expect("the server stops");
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "the port is closed after stop"
        );
    }
}
