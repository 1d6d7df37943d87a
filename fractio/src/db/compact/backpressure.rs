//! Write backpressure: writes slow down gradually as L0 tables or sealed
//! memtables pile up, and stop only at `l0_stop_trigger` L0 tables.
//!
//! # The fast path
//! Every write loads one flag ([`Throttle::throttled`]), set while L0
//! holds `l0_slowdown_trigger` tables or more or `max_sealed_memtables`
//! sealed memtables wait for a flush. The flag and the counts are written
//! by [`Throttle::note`] under the commit lock, right after each store of
//! a super version, so they follow the stores in order.
//!
//! # Slowing down
//! While the flag is set, each write reserves its bytes in a token bucket
//! at [`write_rate`] bytes/s and, once the bucket runs [`MIN_SLEEP`] or
//! more ahead of the clock, sleeps with the commit lock released. The
//! rate is the lowest of:
//! - L0: 64 MiB/s at the slowdown trigger, halving in 8 steps up to the
//!   stop trigger; and the *learned* rate, which [`adapt`] cuts by a
//!   quarter whenever L0 grows while at or past the slowdown trigger and
//!   raises by a quarter whenever L0 shrinks, so it settles at the pace
//!   compaction sustains on this machine.
//! - Sealed memtables at the limit: 64 MiB/s at half fill of the active
//!   memtable, halving in 8 steps up to full (when the write would wait
//!   for the flush anyway).
//!
//! # Stopping
//! At `l0_stop_trigger` L0 tables writes wait (the commit lock released)
//! until compaction brings L0 below it: a stall, counted with its time.
//!
//! Thread-safety: all fields are atomics or short mutexes; the sleeping
//! and waiting happen with the commit lock released.

use super::super::{DbInner, SuperVersion, WriteState};
use crate::options::Options;
use crate::{Error, Result};
use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The fastest rate of a slowdown: 64 MiB/s.
const SLOWDOWN_RATE: u64 = 64 << 20;
/// The learned rate never goes below 64 KiB/s, so it recovers quickly.
const MIN_LEARNED_RATE: u64 = 64 << 10;
/// Halvings of the rate from the first step of pressure to the last.
const SLOWDOWN_STEPS: u64 = 8;
/// A writer sleeps only once the bucket runs this far ahead of the clock,
/// so delays are few sleeps of a millisecond or more, not a sleep a write.
const MIN_SLEEP: Duration = Duration::from_millis(1);
/// Sealed memtables: the active one's fill (per mille) from which writes
/// slow down while the flush is behind.
const MEMTABLE_SLOWDOWN_FILL: u64 = 500;

/// Backpressure state and counters; part of the compactor.
pub(crate) struct Throttle {
    throttled: AtomicBool,
    l0_tables: AtomicUsize,
    sealed_memtables: AtomicUsize,
    /// The L0 rate learned from compaction's pace, bytes/s.
    learned_rate: AtomicU64,
    /// The token bucket: when the bytes reserved so far are paid for.
    bucket: Mutex<Instant>,
    pub(crate) slowdowns: AtomicU64,
    pub(crate) slowdown_micros: AtomicU64,
    pub(crate) l0_stops: AtomicU64,
    pub(crate) l0_stop_micros: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle {
            throttled: AtomicBool::new(false),
            l0_tables: AtomicUsize::new(0),
            sealed_memtables: AtomicUsize::new(0),
            learned_rate: AtomicU64::new(SLOWDOWN_RATE),
            bucket: Mutex::new(Instant::now()),
            slowdowns: AtomicU64::new(0),
            slowdown_micros: AtomicU64::new(0),
            l0_stops: AtomicU64::new(0),
            l0_stop_micros: AtomicU64::new(0),
        }
    }
}

impl Throttle {
    /// Whether writes must take the backpressure path: one load.
    #[inline]
    pub(crate) fn throttled(&self) -> bool {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Records the shape of a newly stored super version and adapts the
    /// learned rate. REQUIRES: the commit lock is held (notes follow the
    /// stores in order, and only one note runs at a time).
    pub(crate) fn note(&self, super_version: &SuperVersion, options: &Options) {
        let l0 = super_version.version.level(0).len();
        let sealed = super_version.sealed.len();
        let before = self.l0_tables.swap(l0, Ordering::Relaxed);
        let learned = self.learned_rate.load(Ordering::Relaxed);
        let learned = adapt(learned, before, l0, options);
        self.learned_rate.store(learned, Ordering::Relaxed);
        self.sealed_memtables.store(sealed, Ordering::Relaxed);
        let throttled = l0 >= options.l0_slowdown_trigger || sealed >= options.max_sealed_memtables;
        self.throttled.store(throttled, Ordering::Relaxed);
    }

    /// L0 tables and sealed memtables as last noted.
    pub(crate) fn shape(&self) -> (usize, usize) {
        (
            self.l0_tables.load(Ordering::Relaxed),
            self.sealed_memtables.load(Ordering::Relaxed),
        )
    }

    /// Reserves `bytes` at `rate` bytes/s; returns how long the writer
    /// must wait until they are paid for.
    fn reserve(&self, bytes: usize, rate: u64) -> Duration {
        let now = Instant::now();
        let mut paid_until = self.bucket.lock();
        let nanos = (bytes as u64).saturating_mul(1_000_000_000) / rate.max(1);
        *paid_until = (*paid_until).max(now) + Duration::from_nanos(nanos);
        paid_until.saturating_duration_since(now)
    }
}

/// The learned L0 rate after L0 went from `before` to `after` tables: a
/// quarter lower if L0 grew at or past the slowdown trigger (compaction
/// is not keeping up at this rate), a quarter higher if L0 shrank.
pub(crate) fn adapt(learned: u64, before: usize, after: usize, options: &Options) -> u64 {
    if after > before && after >= options.l0_slowdown_trigger {
        (learned / 4 * 3).max(MIN_LEARNED_RATE)
    } else if after < before {
        learned.saturating_add(learned / 4).min(SLOWDOWN_RATE)
    } else {
        learned
    }
}

/// The write rate (bytes/s) allowed with `l0` tables in L0, `sealed`
/// memtables waiting for a flush and the active one `fill` per mille
/// full, given the `learned` L0 rate; `None` for no limit.
pub(crate) fn write_rate(
    l0: usize,
    sealed: usize,
    fill: u64,
    learned: u64,
    options: &Options,
) -> Option<u64> {
    let halved = |steps: u64| SLOWDOWN_RATE >> steps.min(SLOWDOWN_STEPS);
    let l0_rate = (l0 >= options.l0_slowdown_trigger).then(|| {
        let span = (options.l0_stop_trigger - options.l0_slowdown_trigger) as u64;
        let over = (l0 - options.l0_slowdown_trigger) as u64;
        halved(over * SLOWDOWN_STEPS / span.max(1)).min(learned)
    });
    let memtable_rate = (sealed >= options.max_sealed_memtables && fill >= MEMTABLE_SLOWDOWN_FILL)
        .then(|| {
            let over = fill.min(1000) - MEMTABLE_SLOWDOWN_FILL;
            halved(over * SLOWDOWN_STEPS / (1000 - MEMTABLE_SLOWDOWN_FILL))
        });
    match (l0_rate, memtable_rate) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl DbInner {
    /// Backpressure for a write of `bytes` bytes: stops while L0 is at the
    /// stop trigger, then delays by the token bucket. REQUIRES: the commit
    /// lock is held (`state`); it is released while sleeping or waiting.
    pub(in crate::db) fn throttle_write(
        &self,
        state: &mut MutexGuard<'_, WriteState>,
        bytes: usize,
    ) -> Result<()> {
        self.stop_while_l0_full(state)?;
        let throttle = &self.compaction.throttle;
        let (l0, sealed) = throttle.shape();
        let fill = state.active.memory_used() as u64 * 1000 / state.active.capacity().max(1) as u64;
        let learned = throttle.learned_rate.load(Ordering::Relaxed);
        let Some(rate) = write_rate(l0, sealed, fill, learned, &self.options) else {
            return Ok(());
        };
        let wait = throttle.reserve(bytes, rate);
        if wait >= MIN_SLEEP {
            MutexGuard::unlocked(state, || std::thread::sleep(wait));
            let micros = wait.as_micros() as u64;
            throttle.slowdowns.fetch_add(1, Ordering::Relaxed);
            throttle
                .slowdown_micros
                .fetch_add(micros, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Waits (the commit lock released) while L0 holds `l0_stop_trigger`
    /// tables or more; counted as a stall, and as an L0 stop.
    fn stop_while_l0_full(&self, state: &mut MutexGuard<'_, WriteState>) -> Result<()> {
        let throttle = &self.compaction.throttle;
        let mut stopped = None;
        while throttle.shape().0 >= self.options.l0_stop_trigger {
            self.check_writable()?;
            if let Some(error) = self.background.lock().error.clone() {
                return Err(Error::ReadOnly(error));
            }
            stopped.get_or_insert_with(Instant::now);
            self.wake_background();
            self.write_room.wait_for(state, Duration::from_millis(50));
        }
        if let Some(started) = stopped {
            let micros = started.elapsed().as_micros() as u64;
            self.counters.stalls.fetch_add(1, Ordering::Relaxed);
            self.counters
                .stall_micros
                .fetch_add(micros, Ordering::Relaxed);
            throttle.l0_stops.fetch_add(1, Ordering::Relaxed);
            throttle.l0_stop_micros.fetch_add(micros, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: u64 = SLOWDOWN_RATE;

    #[test]
    fn the_rate_halves_per_step_of_pressure() {
        let options = Options::default(); // slowdown 12, stop 20, 2 sealed
        assert_eq!(write_rate(11, 1, 999, FAST, &options), None);
        assert_eq!(write_rate(12, 0, 0, FAST, &options), Some(FAST));
        assert_eq!(write_rate(13, 0, 0, FAST, &options), Some(FAST / 2));
        assert_eq!(write_rate(19, 0, 0, FAST, &options), Some(FAST >> 7));
        // Sealed memtables at the limit: slower as the active one fills.
        assert_eq!(write_rate(0, 2, 499, FAST, &options), None);
        assert_eq!(write_rate(0, 2, 500, FAST, &options), Some(FAST));
        assert_eq!(write_rate(0, 2, 750, FAST, &options), Some(FAST >> 4));
        assert_eq!(write_rate(0, 2, 1000, FAST, &options), Some(FAST >> 8));
        // The stronger pressure wins.
        assert_eq!(write_rate(13, 2, 750, FAST, &options), Some(FAST >> 4));
        // The learned rate caps the L0 rate only.
        assert_eq!(write_rate(12, 0, 0, 1 << 20, &options), Some(1 << 20));
        assert_eq!(write_rate(0, 2, 500, 1 << 20, &options), Some(FAST));
    }

    #[test]
    fn the_learned_rate_follows_l0() {
        let options = Options::default();
        // Growth below the slowdown trigger teaches nothing.
        assert_eq!(adapt(FAST, 3, 4, &options), FAST);
        // Growth under pressure: a quarter off, down to a floor.
        assert_eq!(adapt(FAST, 12, 13, &options), FAST / 4 * 3);
        assert_eq!(adapt(MIN_LEARNED_RATE, 12, 13, &options), MIN_LEARNED_RATE);
        // A compaction draining L0: a quarter on, up to the top rate.
        assert_eq!(adapt(1 << 20, 13, 2, &options), (1 << 20) + (1 << 18));
        assert_eq!(adapt(FAST, 13, 2, &options), FAST);
        // A seal (no change in L0) keeps it.
        assert_eq!(adapt(1 << 20, 13, 13, &options), 1 << 20);
    }

    #[test]
    fn the_bucket_makes_writers_wait_only_when_ahead() {
        let throttle = Throttle::default();
        // 1 KiB at 1 MiB/s costs ~1 ms; the first write pays it alone.
        let first = throttle.reserve(1 << 10, 1 << 20);
        assert!(first <= Duration::from_millis(1), "{first:?}");
        let mut last = first;
        for _ in 0..9 {
            last = throttle.reserve(1 << 10, 1 << 20);
        }
        // Ten writes back to back run ~10 ms ahead of the clock.
        assert!(last >= Duration::from_millis(8), "{last:?}");
    }
}
