//! Waiting for something a server does in its own time.

#![allow(dead_code)] // each test crate uses part of this module

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `f` (every 100 ms) until it returns `Ok`, for at most `timeout`;
/// panics with `what` and the last `Err` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(last) => {
                if Instant::now() > deadline {
                    panic!("waited {timeout:?} for {what}; last seen: {last}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
