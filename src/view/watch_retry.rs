//! How every watch of the operator comes back after an error, and how the error is named in metrics.
//!
//! kube-runtime's default backoff (client-go's: 0.8 s doubling to 30 s, reset after 2 minutes) leaves a watch
//! down for up to half a minute after a ten-second API server restart; a change made after the restart would then
//! reach status that much later, and an auditor reading `lastEvaluated` would see a hole the outage did not
//! cause. The operator holds a few dozen watches at most, so retrying each every couple of seconds while the API
//! server is away costs it little.

use std::time::Duration;

use kube::runtime::utils::Backoff;
use kube::runtime::watcher;

/// First retry after this long.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// Retries double up to this (and jitter adds up to as much again).
const MAX_RETRY: Duration = Duration::from_millis(1500);

/// The backoff of every watch: 200 ms doubling to 1.5 s, each delay jittered by up to itself. A stream that
/// yields again starts from the first delay (kube-runtime's `StreamBackoff` resets it).
pub fn backoff() -> impl Backoff {
    watcher::ExponentialBackoff::from(
        backon::ExponentialBuilder::default()
            .with_min_delay(FIRST_RETRY)
            .with_max_delay(MAX_RETRY)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times(),
    )
}

/// Why a watch failed, as the `reason` label of `soc2_watch_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchFailure {
    /// 410 Gone: the resourceVersion the watch resumed from was compacted away; the watch lists again.
    Expired,
    /// The API server could not be reached or answered 429 or 5xx (a restart, an overload).
    Unavailable,
    /// 401 or 403: the operator's identity lacks a permission.
    Forbidden,
    /// Anything else (a response that could not be decoded, a missing resourceVersion).
    Other,
}

impl WatchFailure {
    /// Classifies a watcher error.
    pub fn of(error: &watcher::Error) -> Self {
        match error {
            watcher::Error::WatchError(status) => Self::from_code(status.code),
            watcher::Error::InitialListFailed(e)
            | watcher::Error::WatchStartFailed(e)
            | watcher::Error::WatchFailed(e) => Self::of_client(e),
            watcher::Error::NoResourceVersion => WatchFailure::Other,
        }
    }

    fn of_client(error: &kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => Self::from_code(status.code),
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
                WatchFailure::Unavailable
            }
            _ => WatchFailure::Other,
        }
    }

    fn from_code(code: u16) -> Self {
        match code {
            410 => WatchFailure::Expired,
            401 | 403 => WatchFailure::Forbidden,
            429 | 500..=599 => WatchFailure::Unavailable,
            _ => WatchFailure::Other,
        }
    }

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchFailure::Expired => "expired",
            WatchFailure::Unavailable => "unavailable",
            WatchFailure::Forbidden => "forbidden",
            WatchFailure::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn status(code: u16) -> Box<Status> {
        Box::new(Status::failure("x", "y").with_code(code))
    }

    #[test]
    fn gone_is_expired_wherever_it_arrives() {
        assert_eq!(
            WatchFailure::of(&watcher::Error::WatchError(status(410))),
            WatchFailure::Expired
        );
        assert_eq!(
            WatchFailure::of(&watcher::Error::WatchStartFailed(kube::Error::Api(status(
                410
            )))),
            WatchFailure::Expired
        );
    }

    #[test]
    fn outages_permissions_and_the_rest_are_told_apart() {
        for (code, failure) in [
            (503, WatchFailure::Unavailable),
            (429, WatchFailure::Unavailable),
            (500, WatchFailure::Unavailable),
            (403, WatchFailure::Forbidden),
            (401, WatchFailure::Forbidden),
            (404, WatchFailure::Other),
        ] {
            let error = watcher::Error::InitialListFailed(kube::Error::Api(status(code)));
            assert_eq!(WatchFailure::of(&error), failure, "HTTP {code}");
        }
        assert_eq!(
            WatchFailure::of(&watcher::Error::NoResourceVersion),
            WatchFailure::Other
        );
    }

    #[test]
    fn backoff_stays_within_three_seconds_through_a_long_outage() {
        let delays: Vec<Duration> = backoff().take(50).collect();
        assert_eq!(delays.len(), 50, "the backoff never gives up");
        assert!(delays[0] <= FIRST_RETRY * 2, "first delay {:?}", delays[0]);
        for d in &delays {
            assert!(*d <= MAX_RETRY * 2, "delay {d:?} longer than 3 s");
        }
        // Not a busy loop: late delays are at least the cap.
        assert!(delays[10..].iter().all(|d| *d >= MAX_RETRY));
    }
}
