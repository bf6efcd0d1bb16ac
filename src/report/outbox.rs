//! The durable outbox: every post is written to the store before anything is sent, then
//! delivered by one worker, oldest first per commit and context, retried with exponential
//! backoff and jitter until the forge takes it. A forge outage or a restart loses nothing,
//! and a post identical to the last one delivered for its commit and context is skipped.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{DeliveryError, Forge, Post};
use crate::store::{self, PostRecord, SharedStore};

/// The first retry waits this long; each next one twice as long, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Posts taken from the store per round.
const BATCH: usize = 32;

/// Writes posts and delivers them.
#[derive(Clone)]
pub struct Outbox {
    store: SharedStore,
    forge: Arc<dyn Forge>,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(store: SharedStore, forge: Arc<dyn Forge>) -> Outbox {
        Outbox { store, forge, wake: Arc::new(Notify::new()) }
    }

    /// Writes a post to the store; the worker delivers it soon after.
    pub fn push(&self, post: &Post) -> anyhow::Result<()> {
        let body = serde_json::to_string(post)?;
        store::lock(&self.store).outbox_push(&post.target(), post.context(), &body)?;
        metrics::gauge!("ordo_outbox_backlog").increment(1.0);
        self.wake.notify_one();
        Ok(())
    }

    /// Delivers posts until cancelled. Undelivered posts stay in the store for the next run.
    pub async fn run(self, cancel: CancellationToken) {
        if let Ok(backlog) = store::lock(&self.store).outbox_backlog() {
            metrics::gauge!("ordo_outbox_backlog").set(backlog as f64);
        }
        loop {
            let wait = match self.round().await {
                Ok(wait) => wait,
                Err(err) => {
                    tracing::error!(error = %format!("{err:#}"), "the outbox could not read the store");
                    Some(FIRST_BACKOFF)
                }
            };
            let sleep = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.wake.notified() => {}
                () = sleep => {}
            }
        }
    }

    /// Delivers what is due; returns how long until the next post is due (`None`: nothing
    /// waits, sleep until woken).
    async fn round(&self) -> anyhow::Result<Option<Duration>> {
        loop {
            let due = store::lock(&self.store).outbox_due(now_millis(), BATCH)?;
            if due.is_empty() {
                break;
            }
            for post in due {
                self.deliver(post).await?;
            }
        }
        let next = store::lock(&self.store).outbox_next_due()?;
        Ok(next.map(|at| Duration::from_millis(at.saturating_sub(now_millis()).max(0) as u64)))
    }

    async fn deliver(&self, record: PostRecord) -> anyhow::Result<()> {
        let last = store::lock(&self.store).outbox_last_delivered(&record.target, &record.context)?;
        if last.as_deref() == Some(record.body.as_str()) {
            store::lock(&self.store).outbox_done(record.id, true)?;
            metrics::gauge!("ordo_outbox_backlog").decrement(1.0);
            return Ok(());
        }
        let result = match serde_json::from_str::<Post>(&record.body) {
            Ok(post) => self.forge.deliver(&post).await,
            Err(err) => Err(DeliveryError::Rejected(format!("unreadable post: {err}"))),
        };
        let forge = self.forge.name();
        match result {
            Ok(()) => {
                store::lock(&self.store).outbox_done(record.id, false)?;
                metrics::gauge!("ordo_outbox_backlog").decrement(1.0);
                metrics::counter!("ordo_outbox_deliveries_total", "forge" => forge, "result" => "delivered")
                    .increment(1);
                tracing::debug!(post = record.id, target = %record.target, context = %record.context, "post delivered");
            }
            Err(DeliveryError::Rejected(message)) => {
                // Kept, not retried: the forge will not take it, and its record says why.
                store::lock(&self.store).outbox_done(record.id, true)?;
                metrics::gauge!("ordo_outbox_backlog").decrement(1.0);
                metrics::counter!("ordo_outbox_deliveries_total", "forge" => forge, "result" => "rejected")
                    .increment(1);
                tracing::warn!(post = record.id, target = %record.target, error = %message, "the forge rejected a post");
            }
            Err(DeliveryError::Transient(message)) => {
                let wait = backoff(record.attempts as u32, record.id);
                store::lock(&self.store).outbox_retry(record.id, now_millis() + wait.as_millis() as i64, &message)?;
                metrics::counter!("ordo_outbox_deliveries_total", "forge" => forge, "result" => "failed").increment(1);
                tracing::warn!(post = record.id, target = %record.target, attempts = record.attempts + 1, retry_in = ?wait, error = %message, "delivery failed");
            }
        }
        Ok(())
    }
}

/// How long to wait before attempt `attempts + 1`: exponential with jitter, so many posts
/// failing together do not all come back at the same moment.
pub fn backoff(attempts: u32, seed: i64) -> Duration {
    let exponential = FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(attempts.min(16))).min(MAX_BACKOFF);
    // Between half and all of the exponential wait.
    let jitter = jitter_fraction(seed, attempts);
    exponential.mul_f64(0.5 + 0.5 * jitter)
}

/// A number in [0, 1) that differs between posts and attempts.
fn jitter_fraction(seed: i64, attempts: u32) -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(seed);
    hasher.write_u32(attempts);
    (hasher.finish() % 10_000) as f64 / 10_000.0
}

pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jitters_and_is_capped() {
        for attempts in 0..20 {
            let wait = backoff(attempts, 7);
            let full = FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(attempts.min(16))).min(MAX_BACKOFF);
            assert!(wait >= full / 2 && wait <= full, "{attempts}: {wait:?}");
        }
        assert!(backoff(30, 1) <= MAX_BACKOFF);
    }
}
