//! The operator's wiring, in-process: `controller::run_until` against a scripted API server, probed over its admin
//! port on loopback.
//!
//! The fake API server answers the preflight and holds the Control watch's initial list until the test releases
//! it, so `/readyz` is seen answering 503 before the list and 200 after; `/healthz` answers from the start;
//! `/metrics` serves the registry reconciles write to; stopping stops the admin server too. Waits poll the admin
//! port with a deadline; nothing sleeps for correctness.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Response, StatusCode};
use kube::client::Body;
use serde_json::json;
use soc2_operator::controller::{self, OperatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout};

use crate::support::mock_api::{CONTROLS, DEADLINE, json_response, mock_client};

const POLL: Duration = Duration::from_millis(20);
const CONTROL_EXCEPTIONS: &str = "/apis/soc2.dev/v1alpha1/controlexceptions";
const ACCESS_REVIEWS: &str = "/apis/soc2.dev/v1alpha1/accessreviews";
const ACCESS_REVIEW_DECISIONS: &str = "/apis/soc2.dev/v1alpha1/accessreviewdecisions";
const NAMESPACES: &str = "/api/v1/namespaces";

fn control_list() -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "apiVersion": "soc2.dev/v1alpha1",
            "kind": "ControlList",
            "metadata": {"resourceVersion": "41"},
            "items": [],
        }),
    )
}

/// A free loopback port (bound, read, released: the operator binds it right after).
async fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free loopback port");
    listener.local_addr().expect("local address")
}

/// `GET path` over HTTP/1.1; `None` while nothing listens.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    timeout(DEADLINE, stream.read_to_string(&mut response))
        .await
        .ok()?
        .ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// Polls `path` until it answers `status`; fails after [`DEADLINE`].
async fn wait_for(addr: SocketAddr, path: &str, status: u16) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some((s, body)) = get(addr, path).await
            && s == status
        {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} did not answer {status} within {DEADLINE:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn readiness_follows_the_control_list_and_stop_closes_the_admin_port() {
    let (client, mut handle) = mock_client();
    let (release_list, list_released) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut list_released = Some(list_released);
        // Watch requests are never answered (a watch that stays open); keep them until the client goes away.
        let mut open_watches = Vec::new();
        let mut paths = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let path = request.uri().path().to_string();
            let query = request.uri().query().unwrap_or_default().to_string();
            paths.push(format!("{path}?{query}"));
            if path == NAMESPACES && query.contains("sendInitialEvents=true") {
                // Whether streaming lists work: answered as a Kubernetes 1.33 API server answers (WatchList off).
                send.send_response(json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &crate::support::mock_api::status_failure(
                        422,
                        "Invalid",
                        "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                    ),
                ));
                continue;
            }
            assert!(
                path == CONTROLS
                    || path == CONTROL_EXCEPTIONS
                    || path == ACCESS_REVIEWS
                    || path == ACCESS_REVIEW_DECISIONS,
                "only controls, control exceptions and access reviews are read: {paths:?}"
            );
            if query.contains("watch=true") {
                open_watches.push(send);
            } else if path == ACCESS_REVIEWS || path == ACCESS_REVIEW_DECISIONS {
                // The access review controller's probe and initial lists: none.
                send.send_response(json_response(
                    StatusCode::OK,
                    &json!({
                        "apiVersion": "soc2.dev/v1alpha1",
                        "kind": "List",
                        "metadata": {"resourceVersion": "42"},
                        "items": [],
                    }),
                ));
            } else if path == CONTROL_EXCEPTIONS {
                // The ControlException controller's initial list: none.
                send.send_response(json_response(
                    StatusCode::OK,
                    &json!({
                        "apiVersion": "soc2.dev/v1alpha1",
                        "kind": "ControlExceptionList",
                        "metadata": {"resourceVersion": "42"},
                        "items": [],
                    }),
                ));
            } else if query.contains("limit=1&") || query.ends_with("limit=1") {
                // The preflight.
                send.send_response(control_list());
            } else {
                // The Control watch's initial list: held until the test has seen /readyz fail.
                if let Some(released) = list_released.take() {
                    let _ = released.await;
                }
                send.send_response(control_list());
            }
        }
        paths
    });

    let admin_addr = free_port().await;
    let (stop, stopped) = oneshot::channel::<()>();
    let operator = tokio::spawn(controller::run_until(
        client,
        OperatorConfig {
            instance: Some("test".into()),
            admin_addr,
            leader_election: None,
            ..Default::default()
        },
        async move {
            let _ = stopped.await;
        },
    ));

    assert_eq!(wait_for(admin_addr, "/healthz", 200).await, "ok\n");
    let (status, body) = get(admin_addr, "/readyz").await.expect("admin answers");
    assert_eq!(status, 503, "not ready before the initial list: {body}");
    assert!(body.contains("initial list"), "{body}");

    let _ = release_list.send(());
    let body = wait_for(admin_addr, "/readyz", 200).await;
    assert_eq!(body, "ready: controls synced; leader\n");
    let (status, metrics) = get(admin_addr, "/metrics").await.expect("admin answers");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("soc2_leader 1\n"),
        "without leader election this replica leads:\n{metrics}"
    );
    assert!(
        metrics.contains("soc2_writes_dropped_total 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("soc2_watch_streaming_lists 0\n"),
        "an API server that refuses sendInitialEvents gets paginated lists:\n{metrics}"
    );

    let _ = stop.send(());
    timeout(DEADLINE, operator)
        .await
        .expect("the operator stops in time")
        .expect("the operator task did not panic")
        .expect("the operator stops cleanly");
    assert!(
        get(admin_addr, "/healthz").await.is_none(),
        "the admin port is closed after stop"
    );
    let paths = timeout(DEADLINE, server)
        .await
        .expect("the fake API server ends with the client")
        .expect("the fake API server did not panic");
    assert!(
        paths.iter().any(|p| p.contains("watch=true")),
        "the Control watch was started: {paths:?}"
    );
}

#[tokio::test]
async fn a_missing_control_exception_crd_stops_the_operator_with_instructions() {
    let (client, mut handle) = mock_client();
    let server = tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            if request.uri().path() == CONTROL_EXCEPTIONS {
                send.send_response(json_response(
                    StatusCode::NOT_FOUND,
                    &crate::support::mock_api::status_failure(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    ),
                ));
            } else {
                send.send_response(control_list());
            }
        }
    });
    let result = timeout(
        DEADLINE,
        controller::run_until(
            client,
            OperatorConfig {
                admin_addr: free_port().await,
                ..Default::default()
            },
            std::future::pending(),
        ),
    )
    .await
    .expect("the operator stops at once");
    let error = result.expect_err("refuses to run");
    assert!(
        matches!(error, controller::Error::ExceptionCrdMissing),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("kubectl apply --server-side -f crds/")
    );
    assert_eq!(error.category(), "crd-missing");
    server.abort();
}
