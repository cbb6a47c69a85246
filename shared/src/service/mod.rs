//! Use cases: they call the domain and the ports, and know nothing of HTTP or Lambda.

pub mod allocation;
pub mod backlog;
pub mod change_tracker;
pub mod commit;
pub mod demo;
pub mod inventory;
pub mod jobs;
pub mod lifecycle;
pub mod mass_allocate;
pub mod milestones;
pub mod orders;
pub mod outbox;
pub mod reconcile;
pub mod schedules;
pub mod stock;
pub mod troubleshooting;

/// A short random pause before retrying a write that lost a race, growing with the attempt,
/// so that writers competing for the same items do not collide again in lockstep.
pub async fn backoff(attempt: usize) {
    let ceiling = 5u64 << attempt.min(5);
    let pause = rand::random_range(1..=ceiling);
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}
