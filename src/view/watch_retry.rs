//! How every watch of the operator comes back after an error, and how the error is named in metrics.
//!
//! kube-runtime's default backoff (client-go's: 0.8 s doubling to 30 s, reset after 2 minutes) leaves a watch
//! down for up to half a minute after a ten-second API server restart; a change made after the restart would then
//! reach status that much later, and an auditor reading `lastEvaluated` would see a hole the outage did not
//! cause. The operator holds a few dozen watches at most, so retrying each every couple of seconds while the API
//! server is away costs it little.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher;

use crate::runtime::metrics::Metrics;

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

/// A watch stream counted in the metrics as `kind` and retried after errors: with [`backoff`], except that a
/// 410 Gone is answered by listing again at once. 410 is no outage: after an API server restart every watch
/// resuming from a resourceVersion older than the new watch cache gets it, and waiting one more backoff step
/// before the list that repairs it would only delay the changes made meanwhile. A second 410 in a row (an
/// expired continue token of a paginated list, say) backs off as any error does.
pub fn retried<S, K>(
    stream: S,
    metrics: Arc<Metrics>,
    kind: String,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send
where
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    K: Send,
{
    let expired = Arc::new(AtomicBool::new(false));
    let seen = expired.clone();
    stream
        .inspect(move |event| {
            metrics.observe_watch(&kind, event);
            if let Err(error) = event {
                seen.store(
                    WatchFailure::of(error) == WatchFailure::Expired,
                    Ordering::Relaxed,
                );
            }
        })
        .backoff(ListAgainWhenExpired::new(expired))
}

/// [`backoff`], but no delay for the first 410 Gone after anything else.
struct ListAgainWhenExpired {
    expired: Arc<AtomicBool>,
    /// The previous error was answered without delay.
    relisted: bool,
    steps: Box<dyn Backoff>,
}

impl ListAgainWhenExpired {
    fn new(expired: Arc<AtomicBool>) -> Self {
        ListAgainWhenExpired {
            expired,
            relisted: false,
            steps: Box::new(backoff()),
        }
    }
}

impl Iterator for ListAgainWhenExpired {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.expired.swap(false, Ordering::Relaxed) && !self.relisted {
            self.relisted = true;
            return Some(Duration::ZERO);
        }
        self.relisted = false;
        self.steps.next()
    }
}

impl Backoff for ListAgainWhenExpired {
    fn reset(&mut self) {
        self.relisted = false;
        self.steps.reset();
    }
}

/// The trigger backoff of a Controller whose every erring trigger stream is already [`retried`]: backing off
/// again there would add a second delay to each error (the Controller sleeps after the stream already has).
pub fn already_retried() -> impl Backoff {
    NoFurtherDelay
}

struct NoFurtherDelay;

impl Iterator for NoFurtherDelay {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for NoFurtherDelay {
    fn reset(&mut self) {}
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

    fn error(code: u16) -> Result<watcher::Event<()>, watcher::Error> {
        Err(watcher::Error::WatchError(status(code)))
    }

    /// The delays `retried` sleeps after each item of `items`, read from the wrapped backoff as the stream
    /// backoff does (next() after an error, reset() after anything else).
    fn delays(items: Vec<Result<watcher::Event<()>, watcher::Error>>) -> Vec<Option<Duration>> {
        let expired = Arc::new(AtomicBool::new(false));
        let mut backoff = ListAgainWhenExpired::new(expired.clone());
        items
            .into_iter()
            .map(|item| match item {
                Err(e) => {
                    expired.store(
                        WatchFailure::of(&e) == WatchFailure::Expired,
                        Ordering::Relaxed,
                    );
                    backoff.next()
                }
                Ok(_) => {
                    backoff.reset();
                    None
                }
            })
            .collect()
    }

    #[test]
    fn a_410_lists_again_at_once_but_a_second_in_a_row_backs_off() {
        let d = delays(vec![
            error(503),
            error(410),
            error(410),
            Ok(watcher::Event::Init),
            error(410),
        ]);
        assert!(d[0].is_some_and(|d| d > Duration::ZERO), "503: {:?}", d[0]);
        assert_eq!(d[1], Some(Duration::ZERO), "the first 410 after an outage");
        assert!(
            d[2].is_some_and(|d| d > Duration::ZERO),
            "a second 410 in a row: {:?}",
            d[2]
        );
        assert_eq!(d[3], None);
        assert_eq!(
            d[4],
            Some(Duration::ZERO),
            "a 410 after the watch came back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retried_streams_count_errors_and_lists_and_never_give_up() {
        let metrics = Arc::new(Metrics::new());
        let items = vec![
            error(410),
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitDone),
            error(503),
            error(503),
        ];
        let stream = retried(futures::stream::iter(items), metrics.clone(), "pods".into());
        let seen: Vec<_> = stream.collect().await;
        assert_eq!(seen.len(), 5, "every item passes through");
        let text = metrics.encode().expect("metrics encode");
        assert!(
            text.contains("soc2_watch_errors_total{kind=\"pods\",reason=\"expired\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("soc2_watch_errors_total{kind=\"pods\",reason=\"unavailable\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("soc2_watch_lists_total{kind=\"pods\"} 1"),
            "{text}"
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
