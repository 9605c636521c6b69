//! How a watch fills its store the first time and after every 410 Gone: by a streaming list where the API server
//! offers one, else by paginated lists.
//!
//! A streaming list (a watch with `sendInitialEvents=true`, the API server's WatchList feature) is served from the
//! API server's watch cache one object at a time, so neither the API server nor etcd builds a LIST response; the
//! feature is on by default in Kubernetes 1.32 and from 1.34, off in 1.33, and an administrator may turn it off.
//! Whether it is on is asked of the API server itself, once, rather than inferred from its version. Otherwise
//! each list asks for pages of 500 objects, so that no response holds a whole kind.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{WatchEvent, WatchParams};
use kube::runtime::watcher;
use kube::{Api, Client};

/// Objects per page of a paginated list.
pub const PAGE_SIZE: u32 = 500;

/// How long the probe waits for the API server's first answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The initial list every watch of the view uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitialList {
    /// A watch with `sendInitialEvents=true`.
    Streaming,
    /// Lists in pages of [`PAGE_SIZE`], then a watch.
    #[default]
    Paginated,
}

impl InitialList {
    /// The watcher configuration of this strategy.
    pub fn config(self) -> watcher::Config {
        let config = watcher::Config::default().page_size(PAGE_SIZE);
        match self {
            InitialList::Streaming => config.streaming_lists(),
            InitialList::Paginated => config,
        }
    }

    /// The name in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            InitialList::Streaming => "streaming",
            InitialList::Paginated => "paginated",
        }
    }

    /// Asks the API server: a streaming watch of Namespaces (which the operator may always read) that answers
    /// with an object or a bookmark means streaming lists work; a refusal (422 while the feature is off), an
    /// error event or no answer within 10 s means paginated lists.
    pub async fn detect(client: &Client) -> InitialList {
        let api: Api<Namespace> = Api::all(client.clone());
        let params = WatchParams::streaming_lists().timeout(PROBE_TIMEOUT.as_secs() as u32);
        let first = async {
            let stream = api.watch(&params, "0").await.map_err(|e| e.to_string())?;
            let mut stream = std::pin::pin!(stream);
            match stream.next().await {
                Some(Ok(WatchEvent::Added(_) | WatchEvent::Bookmark(_))) => Ok(()),
                Some(Ok(WatchEvent::Error(status))) => Err(status.message),
                Some(Ok(_)) => Err("an unexpected first event".to_string()),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("the watch ended without an event".to_string()),
            }
        };
        match tokio::time::timeout(PROBE_TIMEOUT, first).await {
            Ok(Ok(())) => InitialList::Streaming,
            Ok(Err(reason)) => {
                tracing::info!(%reason, "the API server offers no streaming lists; lists are paginated");
                InitialList::Paginated
            }
            Err(_) => {
                tracing::info!(
                    "the API server did not answer a streaming list within 10 s; lists are paginated"
                );
                InitialList::Paginated
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http::{Request, Response, StatusCode};
    use kube::client::Body;
    use serde_json::json;
    use tower_test::mock;

    use super::*;

    /// Detects against a scripted API server that answers the probe with `status` and `body`, and checks the probe.
    async fn detect_against(status: StatusCode, body: String) -> InitialList {
        let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("the probe");
            let uri = request.uri().to_string();
            assert!(uri.starts_with("/api/v1/namespaces?"), "{uri}");
            for part in [
                "watch=true",
                "sendInitialEvents=true",
                "resourceVersionMatch=NotOlderThan",
                "allowWatchBookmarks=true",
            ] {
                assert!(uri.contains(part), "{uri} lacks {part}");
            }
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(body.into_bytes()))
                    .expect("response"),
            );
        });
        let list = InitialList::detect(&client).await;
        server.await.expect("the scripted server did not panic");
        list
    }

    #[tokio::test]
    async fn an_api_server_that_streams_gets_streaming_lists() {
        let event = json!({ "type": "ADDED", "object": { "apiVersion": "v1", "kind": "Namespace",
                            "metadata": { "name": "default", "resourceVersion": "7" } } });
        let list = detect_against(StatusCode::OK, format!("{event}\n")).await;
        assert_eq!(list, InitialList::Streaming);
        assert!(format!("{:?}", list.config()).contains("StreamingList"));
    }

    #[tokio::test]
    async fn a_refusal_or_an_error_event_gets_paginated_lists() {
        let refusal = json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422,
                              "reason": "Invalid", "message": "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled" });
        assert_eq!(
            detect_against(StatusCode::UNPROCESSABLE_ENTITY, refusal.to_string()).await,
            InitialList::Paginated
        );
        let error = json!({ "type": "ERROR", "object": { "kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "code": 500, "message": "internal error" } });
        assert_eq!(
            detect_against(StatusCode::OK, format!("{error}\n")).await,
            InitialList::Paginated
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_api_server_that_never_answers_gets_paginated_lists_after_ten_seconds() {
        let (service, _handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let started = tokio::time::Instant::now();
        assert_eq!(InitialList::detect(&client).await, InitialList::Paginated);
        assert_eq!(started.elapsed(), PROBE_TIMEOUT);
    }

    #[test]
    fn paginated_lists_ask_for_pages_of_500() {
        let config = InitialList::Paginated.config();
        assert_eq!(config.page_size, Some(PAGE_SIZE));
        assert!(!format!("{config:?}").contains("StreamingList"));
    }
}
