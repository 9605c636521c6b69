//! The AdmissionReview v1 endpoints: `POST /validate/enforce` (controls in Enforce mode) and `POST
//! /validate/warn` (controls in Warn mode). Separate endpoints let each webhook carry its own failure policy. The
//! sign-off of access reviews has its own pair, `POST /mutate/access-review-decisions` and `POST
//! /validate/access-review-decisions` ([`super::access_decisions`]).
//!
//! A body that is not an AdmissionReview gets `400` with the reason; one above [`MAX_BODY_BYTES`] gets `413`; an
//! object that does not decode as its kind is refused in an AdmissionReview (allowed=false, code 400). Nothing here
//! panics on input.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

use super::access_decisions::{self, AccessReviewSource};
use super::admissibility::kind_of;
use super::admitted::admission_snapshot;
use super::decision::decide;
use crate::api::ControlException;
use crate::api::{Control, Mode};
use crate::engine::exceptions::ExceptionPolicy;
use crate::runtime::metrics::Metrics;

/// Path of the Enforce webhook.
pub const ENFORCE_PATH: &str = "/validate/enforce";
/// Path of the Warn webhook.
pub const WARN_PATH: &str = "/validate/warn";
/// Largest accepted request body. The API server limits objects to 3 MiB; a review carries the object and, on
/// update, the old object too.
pub const MAX_BODY_BYTES: usize = 7 * 1024 * 1024;

/// The current Controls (from the operator's Control watch).
pub type ControlSource = Arc<dyn Fn() -> Vec<Arc<Control>> + Send + Sync>;
/// The current Namespaces, `None` while the Namespace watch has not synced.
pub type NamespaceSource = Arc<dyn Fn() -> Option<Vec<Arc<Namespace>>> + Send + Sync>;

/// The current ControlExceptions and how they are judged, so that an excepted object is admitted exactly as the
/// audit waives it.
pub type ExceptionSource =
    Arc<dyn Fn() -> (Vec<Arc<ControlException>>, ExceptionPolicy) + Send + Sync>;

/// What the endpoints read.
#[derive(Clone)]
pub struct AdmissionState {
    /// The controls to apply.
    pub controls: ControlSource,
    /// Namespace objects for namespace-selecting scopes.
    pub namespaces: NamespaceSource,
    /// ControlExceptions (`None`: none are honoured, as when their watch has not synced).
    pub exceptions: Option<ExceptionSource>,
    /// AccessReviews, for the sign-off rules of AccessReviewDecisions.
    pub access_reviews: AccessReviewSource,
    /// Where decisions are counted.
    pub metrics: Arc<Metrics>,
}

/// The admission routes, servable by [`super::server::WebhookServer`] or testable with `oneshot`.
pub fn router(state: AdmissionState) -> Router {
    Router::new()
        .route(ENFORCE_PATH, post(enforce))
        .route(WARN_PATH, post(warn))
        .route(
            access_decisions::MUTATE_PATH,
            post(access_decisions::mutate),
        )
        .route(
            access_decisions::VALIDATE_PATH,
            post(access_decisions::validate),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn enforce(State(state): State<AdmissionState>, body: Bytes) -> Response {
    review(&state, Mode::Enforce, &body)
}

async fn warn(State(state): State<AdmissionState>, body: Bytes) -> Response {
    review(&state, Mode::Warn, &body)
}

fn webhook_label(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        _ => "warn",
    }
}

fn review(state: &AdmissionState, mode: Mode, body: &[u8]) -> Response {
    serve(
        state,
        webhook_label(mode),
        Instant::now(),
        body,
        |request| respond(state, mode, request),
    )
}

/// Decodes `body`, answers it with `respond` and counts the request as `webhook` (time from `started`): `400`
/// with the reason for a body that is not an AdmissionReview.
pub(super) fn serve(
    state: &AdmissionState,
    webhook: &str,
    started: Instant,
    body: &[u8],
    respond: impl FnOnce(&AdmissionRequest<DynamicObject>) -> AdmissionResponse,
) -> Response {
    let (response, result) = match parse(body) {
        Ok(request) => {
            let response = respond(&request);
            let result = if response.allowed {
                "allowed"
            } else {
                "denied"
            };
            match review_json(response) {
                Ok(json) => (
                    ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
                    result,
                ),
                Err(error) => (
                    (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
                    "invalid",
                ),
            }
        }
        Err(reason) => {
            tracing::warn!(%reason, webhook, "undecodable admission request");
            ((StatusCode::BAD_REQUEST, reason).into_response(), "invalid")
        }
    };
    state
        .metrics
        .admission_served(webhook, result, started.elapsed());
    response
}

/// The AdmissionReview answering with `response`. A patch is written as base64, as the API server's Go types
/// document `response.patch` (kube's own serialization writes an array of numbers).
fn review_json(mut response: AdmissionResponse) -> Result<Vec<u8>, serde_json::Error> {
    let patch = response.patch.take();
    let mut review = serde_json::to_value(response.into_review())?;
    if let Some(patch) = patch {
        review["response"]["patch"] = serde_json::to_value(k8s_openapi::ByteString(patch))?;
    }
    serde_json::to_vec(&review)
}

fn parse(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, String> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body).map_err(|e| {
        format!("the request body is not an admission.k8s.io/v1 AdmissionReview: {e}\n")
    })?;
    review.try_into().map_err(|_| {
        "the AdmissionReview has no request: send request.uid, kind and object\n".into()
    })
}

/// Refuses a request whose object cannot be read: allowed=false with code 400.
pub(super) fn refused(
    request: &AdmissionRequest<DynamicObject>,
    message: String,
) -> AdmissionResponse {
    let mut r = AdmissionResponse::from(request).deny(message);
    r.result.code = 400;
    r.result.reason = "BadRequest".into();
    r
}

fn respond(
    state: &AdmissionState,
    mode: Mode,
    request: &AdmissionRequest<DynamicObject>,
) -> AdmissionResponse {
    let allowed = AdmissionResponse::from(request);
    // Only creates and updates of the object itself are judged; the configuration registers nothing else.
    if !matches!(request.operation, Operation::Create | Operation::Update)
        || request.sub_resource.is_some()
    {
        return allowed;
    }
    let Some(kind) = kind_of(
        &request.kind.group,
        &request.kind.version,
        &request.kind.kind,
    ) else {
        return allowed;
    };
    let Some(object) = &request.object else {
        return refused(
            request,
            format!(
                "request.object is missing from a {:?} request",
                request.operation
            ),
        );
    };
    let object = match serde_json::to_value(object) {
        Ok(v) => v,
        Err(e) => return refused(request, format!("request.object cannot be read: {e}")),
    };
    let namespaces = (state.namespaces)();
    let (mut snapshot, subject) = match admission_snapshot(
        kind,
        object,
        request.namespace.as_deref(),
        namespaces.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => return refused(request, e.to_string()),
    };
    if let Some(source) = &state.exceptions {
        (snapshot.control_exceptions, snapshot.exception_policy) = source();
    }
    let controls = (state.controls)();
    let decision = decide(mode, &controls, kind, &snapshot, &subject, Timestamp::now());
    for c in &decision.controls {
        state
            .metrics
            .admission_decided(&c.control, c.outcome.label(), request.dry_run);
    }
    let mut response = match decision.denial {
        Some(message) => {
            tracing::info!(object = %subject, dry_run = request.dry_run, user = ?request.user_info.username, "admission denied");
            let mut r = allowed.deny(message);
            r.result.code = 403;
            r.result.reason = "Forbidden".into();
            r
        }
        None => allowed,
    };
    if !decision.warnings.is_empty() {
        response.warnings = Some(decision.warnings);
    }
    response
}
