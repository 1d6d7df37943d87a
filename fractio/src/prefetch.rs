//! Prefetch hints: asking the CPU to start loading a cache line that a
//! later step will read (or write), so that the miss overlaps other work.
//!
//! Invariant: a hint never dereferences its address in Rust terms and
//! never faults, so any address is allowed — dangling, unmapped or null
//! (the hint is then simply wasted). On targets other than x86-64 the
//! hints do nothing.

/// Starts loading the cache line holding `addr`, for reading.
#[inline]
pub(crate) fn read(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is only a hint: it never faults, even on an
        // address that is not mapped, and has no effect the program can
        // observe.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(addr.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Starts loading the cache line holding `addr`, for writing (so a later
/// store or atomic read-modify-write finds it owned).
#[inline]
pub(crate) fn write(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        // SAFETY: as in `read`.
        unsafe { _mm_prefetch::<_MM_HINT_ET0>(addr.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}
