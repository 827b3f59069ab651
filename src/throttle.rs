//! Retry pacing and log throttling, shared by the listeners, the sealer and the status
//! endpoint: a persistent failure must neither spin nor flood the log.

use std::time::{Duration, Instant};

/// Logs a recurring condition at most once per interval, with how often it happened
/// meanwhile: a flood of failures must not become a flood of log lines.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when it is time to log, `n` being the occurrences since the last line
    /// (this one included); `None` to stay quiet.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        self.suppressed += 1;
        match self.last {
            Some(t) if now.duration_since(t) < self.interval => None,
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Logs the first `burst` occurrences of each interval and counts the rest, so that
/// ordinary volumes are logged one by one and a storm costs one line per interval.
#[derive(Debug)]
pub struct BurstLog {
    interval: Duration,
    burst: u32,
    window: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

/// What [`BurstLog::hit`] says about one occurrence.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Log this one.
    pub log: bool,
    /// Occurrences not logged in the interval that just ended (0: none, or not ended).
    pub suppressed_before: u64,
}

impl BurstLog {
    pub fn new(interval: Duration, burst: u32) -> BurstLog {
        BurstLog {
            interval,
            burst,
            window: None,
            logged: 0,
            suppressed: 0,
        }
    }

    pub fn hit(&mut self, now: Instant) -> Verdict {
        let mut suppressed_before = 0;
        if self
            .window
            .is_none_or(|w| now.duration_since(w) >= self.interval)
        {
            self.window = Some(now);
            self.logged = 0;
            suppressed_before = std::mem::take(&mut self.suppressed);
        }
        let log = self.logged < self.burst;
        if log {
            self.logged += 1;
        } else {
            self.suppressed += 1;
        }
        Verdict {
            log,
            suppressed_before,
        }
    }
}

/// Exponential pause between retries, doubling from `min` to `max`, reset by a success.
#[derive(Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Default for Backoff {
    /// 10 ms doubling to 1 s: for failed `accept`s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(10), Duration::from_secs(1))
    }
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The pause to take now; the next one is twice as long.
    pub fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_what_it_suppresses() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(10));
        assert_eq!(t.hit(t0), Some(1));
        for i in 1..=26 {
            assert_eq!(t.hit(t0 + Duration::from_millis(i * 37)), None);
        }
        assert_eq!(t.hit(t0 + Duration::from_secs(11)), Some(27));
    }

    #[test]
    fn backoff_doubles_to_a_ceiling_and_resets() {
        let mut b = Backoff::default();
        let steps: Vec<u128> = (0..9).map(|_| b.step().as_millis()).collect();
        assert_eq!(steps, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.step().as_millis(), 10);
    }

    #[test]
    fn burst_log_logs_a_burst_then_counts() {
        let t0 = Instant::now();
        let mut b = BurstLog::new(Duration::from_secs(10), 3);
        let logged: Vec<bool> = (0..10).map(|_| b.hit(t0).log).collect();
        assert_eq!(
            logged,
            [true, true, true, false, false, false, false, false, false, false]
        );
        let next = b.hit(t0 + Duration::from_secs(11));
        assert_eq!(
            next,
            Verdict {
                log: true,
                suppressed_before: 7
            }
        );
        assert_eq!(b.hit(t0 + Duration::from_secs(12)).suppressed_before, 0);
    }
}
