//! Single flight: concurrent identical requests on one instance share one model call. The
//! first becomes the leader and holds a [`FlightGuard`] until its answer is stored (or it
//! fails); the others wait for the guard to drop, then read the answer from the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

#[derive(Default)]
pub(crate) struct Flights(Arc<Mutex<HashMap<String, watch::Receiver<()>>>>);

/// The leader's hold on a key: dropping it wakes the followers.
pub struct FlightGuard {
    flights: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
    key: String,
    _done: watch::Sender<()>,
}

pub(crate) enum Flight {
    Leader(FlightGuard),
    Follower(watch::Receiver<()>),
}

impl Flights {
    pub(crate) fn join(&self, key: &str) -> Flight {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rx) = map.get(key) {
            return Flight::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        map.insert(key.to_owned(), rx);
        Flight::Leader(FlightGuard {
            flights: Arc::clone(&self.0),
            key: key.to_owned(),
            _done: tx,
        })
    }

    /// Requests waiting on or leading a call (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// Waits until the leader's guard is dropped.
pub(crate) async fn landed(mut rx: watch::Receiver<()>) {
    // `changed` fails once the sender is gone, which is the signal.
    while rx.changed().await.is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_wake_when_the_leader_lands() {
        let flights = Flights::default();
        let Flight::Leader(guard) = flights.join("k") else {
            panic!("first is the leader")
        };
        let Flight::Follower(rx) = flights.join("k") else {
            panic!("second follows")
        };
        let waiting = tokio::spawn(landed(rx));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(guard);
        waiting.await.unwrap();
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join("k"), Flight::Leader(_)));
    }
}
