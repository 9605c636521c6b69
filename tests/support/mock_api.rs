//! A scripted API server on a `tower_test` mock transport.
//!
//! A spawned task plays the API server: it records every request (method, path, query, content type, JSON body)
//! and answers it with a given function. Once the code under test returns, the server waits a short grace period
//! for stray requests, so "no other request" and "no request at all" can be asserted on the recorded list. Every
//! wait has a timeout: a request nobody answers fails the test instead of hanging it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use soc2_operator::api::Control;
use soc2_operator::controller::{self, Context, Error};
use soc2_operator::view::ClusterSnapshot;
use soc2_operator::view::live::LiveView;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tower_test::mock::{self, Handle};

pub type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// How long the code under test (or the fake server) may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// After the code under test returned, how long the fake server keeps listening for requests nobody should make.
pub const GRACE: Duration = Duration::from_millis(100);

pub const CONTROLS: &str = "/apis/soc2.dev/v1alpha1/controls";
pub const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

// ---------------------------------------------------------------------------------------------------------------
// Requests as the API server sees them
// ---------------------------------------------------------------------------------------------------------------

/// One request as the API server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    /// Query parameters, values percent-decoded.
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    /// The JSON body, `Null` when there is none.
    pub body: Value,
}

impl Recorded {
    pub fn is_status_patch(&self, control: &str) -> bool {
        self.method == Method::PATCH && self.path == format!("{CONTROLS}/{control}/status")
    }

    pub fn is_event_post(&self) -> bool {
        self.method == Method::POST && self.path == EVENTS
    }
}

/// Reads `request` (its body must be JSON or empty) into a [`Recorded`].
pub async fn recorded(request: Request<Body>) -> Recorded {
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.expect("request body readable");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("request body is JSON")
    };
    Recorded {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: parse_query(parts.uri.query()),
        content_type: parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("percent escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8 query")
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), percent_decode(v)),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------------------------

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(
            serde_json::to_vec(body).expect("response serializes"),
        ))
        .expect("valid response")
}

/// A `Status` object as the API server sends with an error.
pub fn status_failure(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// A `Status` object with `details`, a success below code 300 (as a DELETE answers), a failure otherwise.
pub fn status_with_details(code: u16, reason: &str, message: &str, details: Value) -> Value {
    let mut status = status_failure(code, reason, message);
    status["status"] = json!(if code < 300 { "Success" } else { "Failure" });
    status["details"] = details;
    status
}

/// What a real API server would answer the operator's reconcile of `control`: the patched Control for a status
/// apply, the created Event for an event POST, 404 otherwise.
pub fn plausible_answer(control: &Control, request: &Recorded) -> (StatusCode, Value) {
    let name = control.metadata.name.clone().unwrap_or_default();
    if request.is_status_patch(&name) {
        let mut patched = control.clone();
        patched.status = Some(
            serde_json::from_value(request.body["status"].clone())
                .expect("the status patch carries a valid ControlStatus"),
        );
        patched.metadata.resource_version = Some("1001".into());
        return (
            StatusCode::OK,
            serde_json::to_value(&patched).expect("control serializes"),
        );
    }
    if request.is_event_post() {
        let mut event = request.body.clone();
        event["metadata"]["uid"] = json!("e0e0e0e0-0000-4000-8000-000000000001");
        event["metadata"]["resourceVersion"] = json!("2002");
        return (StatusCode::CREATED, event);
    }
    (
        StatusCode::NOT_FOUND,
        status_failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------------

/// A client whose requests go to the returned handle.
pub fn mock_client() -> (kube::Client, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), handle)
}

/// A fake API server running on its own task, answering every request with `answer` and recording it.
pub struct FakeServer {
    done: oneshot::Sender<()>,
    task: JoinHandle<Vec<Recorded>>,
}

impl FakeServer {
    pub fn spawn(
        handle: ApiHandle,
        answer: impl FnMut(&Recorded) -> (StatusCode, Value) + Send + 'static,
    ) -> Self {
        let (done, done_rx) = oneshot::channel();
        let task = tokio::spawn(serve(handle, answer, done_rx));
        FakeServer { done, task }
    }

    /// Tells the server the code under test returned; it stops after [`GRACE`] without requests and hands back
    /// every request it saw.
    pub async fn finish(self) -> Vec<Recorded> {
        let _ = self.done.send(());
        timeout(DEADLINE, self.task)
            .await
            .expect("fake API server did not stop")
            .expect("fake API server panicked")
    }
}

/// Plays the API server until `done` fires and then for a further [`GRACE`] without requests.
async fn serve(
    mut handle: ApiHandle,
    mut answer: impl FnMut(&Recorded) -> (StatusCode, Value) + Send,
    mut done: oneshot::Receiver<()>,
) -> Vec<Recorded> {
    let mut seen = Vec::new();
    let mut finished = false;
    loop {
        let next = if finished {
            match timeout(GRACE, handle.next_request()).await {
                Ok(next) => next,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                next = handle.next_request() => next,
                _ = &mut done => {
                    finished = true;
                    continue;
                }
            }
        };
        let Some((request, send)) = next else { break };
        let recorded = recorded(request).await;
        let (status, body) = answer(&recorded);
        send.send_response(json_response(status, &body));
        seen.push(recorded);
    }
    seen
}

/// Runs `work` (named `what` in the failure message) while a fake server answers `handle` with `answer`; returns
/// its output and every request made.
async fn serve_during<T>(
    handle: ApiHandle,
    answer: impl FnMut(&Recorded) -> (StatusCode, Value) + Send + 'static,
    what: &str,
    work: impl Future<Output = T>,
) -> (T, Vec<Recorded>) {
    let server = FakeServer::spawn(handle, answer);
    let result = timeout(DEADLINE, work).await.unwrap_or_else(|_| {
        panic!("{what} did not finish in time (a request was never answered?)")
    });
    (result, server.finish().await)
}

/// Runs `call` (named `what`) with a client whose API server answers with `answer`; returns its result and every
/// request made.
pub async fn with_server<T, F>(
    answer: impl FnMut(&Recorded) -> (StatusCode, Value) + Send + 'static,
    what: &str,
    call: impl FnOnce(kube::Client) -> F,
) -> (T, Vec<Recorded>)
where
    F: Future<Output = T>,
{
    let (client, handle) = mock_client();
    serve_during(handle, answer, what, call(client)).await
}

// ---------------------------------------------------------------------------------------------------------------
// The operator against it
// ---------------------------------------------------------------------------------------------------------------

/// A context whose client talks to the returned handle, passed through `configure`; the view holds `snapshot` (or
/// nothing: every kind NotStarted, reported unavailable after `sync_timeout`, 5 ms).
pub fn mock_context(
    snapshot: Option<&ClusterSnapshot>,
    configure: impl FnOnce(Context) -> Context,
) -> (Arc<Context>, ApiHandle) {
    let (client, handle) = mock_client();
    let (view, _changes) = LiveView::new(None);
    if let Some(snapshot) = snapshot {
        view.load_snapshot(snapshot);
    }
    let mut ctx = configure(Context::new(client, view, Some("test".into())));
    ctx.sync_timeout = Duration::from_millis(5);
    (Arc::new(ctx), handle)
}

/// Reconciles `control` while the fake server answers with `answer`; returns the result and every request made,
/// including any made within [`GRACE`] after reconcile returned.
pub async fn reconcile_with(
    control: &Control,
    ctx: &Arc<Context>,
    handle: ApiHandle,
    answer: impl FnMut(&Recorded) -> (StatusCode, Value) + Send + 'static,
) -> (Result<Action, Error>, Vec<Recorded>) {
    serve_during(
        handle,
        answer,
        "reconcile",
        controller::reconcile(Arc::new(control.clone()), ctx.clone()),
    )
    .await
}
