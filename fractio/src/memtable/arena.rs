//! The memtable arena: one fixed-size block of memory handed out by a bump
//! pointer, addressed by `u32` offsets.
//!
//! The block is an anonymous memory mapping, so the operating system backs a
//! page with memory only when it is first written: an arena reserved for
//! 64 MiB that holds 1 MiB of entries costs about 1 MiB of RSS. On Linux the
//! mapping asks for transparent huge pages: a search through a large arena
//! then misses the TLB far less often, and RSS grows in steps of up to 2 MiB.
//!
//! Thread-safety: [`Arena::alloc`] may be called from any number of threads
//! at once; it costs one atomic `fetch_add`. Every allocation is a disjoint
//! range, so the thread that allocated it may write it without
//! synchronisation; making the written bytes visible to other threads is the
//! caller's job (the skiplist publishes a node with a release CAS).
//!
//! Invariants:
//! - offset 0 is never handed out, so callers may use it as "null";
//! - every offset handed out is a multiple of [`ALIGN`] and its whole range
//!   lies inside the mapping;
//! - memory is never reused or freed before the arena is dropped, so an
//!   offset stays valid for the arena's whole life.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use memmap2::{MmapMut, MmapRaw};

/// Alignment of every allocation: enough for the `AtomicU32`s of a node's
/// tower. (The `u64`s of a node's header are read unaligned, which costs
/// nothing on x86-64 and AArch64 and saves padding in every node.)
pub(crate) const ALIGN: usize = 4;

/// The largest arena: offsets must fit in a `u32`.
pub(crate) const MAX_CAPACITY: usize = u32::MAX as usize & !(ALIGN - 1);

/// `madvise` advice (Linux 5.14+): fault the range in, writable.
#[cfg(target_os = "linux")]
pub(crate) const MADV_POPULATE_WRITE: libc::c_int = 23;

/// Keeps a value on its own cache line, so that writers bumping one counter
/// do not evict the line readers load for other fields.
#[repr(align(64))]
pub(crate) struct CacheLine<T>(pub(crate) T);

/// A fixed-size bump allocator over an anonymous memory mapping.
pub(crate) struct Arena {
    /// The mapping; its address never changes while the arena lives.
    map: MmapRaw,
    /// Usable bytes: allocations never reach past this offset.
    capacity: usize,
    /// The bump pointer: the offset of the next allocation. It may pass
    /// `capacity` when racing allocations fail; every failed one is refused.
    used: CacheLine<AtomicUsize>,
}

impl Arena {
    /// Maps an arena of `capacity` bytes (rounded up to a multiple of
    /// [`ALIGN`]). Panics when `capacity` exceeds [`MAX_CAPACITY`] or the
    /// system refuses the mapping (out of address space, like a failed
    /// allocation).
    pub(crate) fn new(capacity: usize) -> Arena {
        assert!(
            capacity <= MAX_CAPACITY,
            "memtable capacity {capacity} exceeds the maximum {MAX_CAPACITY}"
        );
        let capacity = capacity.next_multiple_of(ALIGN).max(ALIGN);
        let map = MmapMut::map_anon(capacity)
            .unwrap_or_else(|e| panic!("cannot map a {capacity}-byte memtable arena: {e}"));
        // Huge pages cut the TLB misses of a descent through a large arena.
        // Only a hint: without it (or off Linux, or under Miri, which has
        // no `madvise`) the arena works the same.
        #[cfg(all(target_os = "linux", not(miri)))]
        let _ = map.advise(memmap2::Advice::HugePage);
        Arena {
            map: MmapRaw::from(map),
            capacity,
            // Offset 0 stays unused so that it can mean "null".
            used: CacheLine(AtomicUsize::new(ALIGN)),
        }
    }

    /// Usable bytes of the arena.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes handed out so far (including the reserved null offset).
    #[inline]
    pub(crate) fn used(&self) -> usize {
        self.used.0.load(Ordering::Relaxed).min(self.capacity)
    }

    /// Allocates `size` bytes (a multiple of [`ALIGN`]) and returns their
    /// offset, or `None` when the arena has no room.
    #[inline]
    pub(crate) fn alloc(&self, size: usize) -> Option<u32> {
        debug_assert!(size % ALIGN == 0 && size > 0);
        // A plain load first: a single thread that meets a full arena leaves
        // the bump pointer alone, so a later, smaller entry may still fit.
        if self.used.0.load(Ordering::Relaxed).saturating_add(size) > self.capacity {
            return None;
        }
        // Relaxed is enough: the range is ours alone, and its contents are
        // published by the caller's release operation.
        let start = self.used.0.fetch_add(size, Ordering::Relaxed);
        match start.checked_add(size) {
            // `start < capacity <= MAX_CAPACITY`, so it fits in a u32.
            Some(end) if end <= self.capacity => Some(start as u32),
            _ => None,
        }
    }

    /// Asks the system to back `[from, to)` with memory now (zeroed,
    /// writable), so the inserts that will use it do not stop for page
    /// faults. Meant for a background thread; bytes already written are
    /// left as they are. Only a hint: errors (an old kernel) are ignored.
    pub(crate) fn populate(&self, from: usize, to: usize) {
        let page = 4096;
        let from = from / page * page;
        let to = to.min(self.capacity);
        if from >= to {
            return;
        }
        #[cfg(all(target_os = "linux", not(miri)))]
        // SAFETY: `[from, to)` lies inside the mapping, which lives as long
        // as `self`; MADV_POPULATE_WRITE only faults pages in (as a write
        // of nothing would) and never changes bytes already there.
        unsafe {
            libc::madvise(
                self.map.as_mut_ptr().add(from).cast(),
                to - from,
                MADV_POPULATE_WRITE,
            );
        }
    }

    /// The start of the mapping (for prefetch hints).
    #[inline]
    pub(crate) fn base(&self) -> *const u8 {
        self.map.as_ptr()
    }

    /// The address of `offset`.
    ///
    /// # Safety
    /// `offset <= capacity`.
    #[inline]
    unsafe fn ptr(&self, offset: usize) -> *mut u8 {
        debug_assert!(offset <= self.capacity);
        // SAFETY: the caller keeps `offset` inside the mapping, which is at
        // least `capacity` bytes long.
        unsafe { self.map.as_mut_ptr().add(offset) }
    }

    /// Reads the `u64` at `offset`.
    ///
    /// # Safety
    /// `[offset, offset + 8)` lies in an allocation, was written before,
    /// and the write happens-before this read.
    #[inline]
    pub(crate) unsafe fn read_u64(&self, offset: usize) -> u64 {
        // SAFETY: in bounds per the contract (an unaligned read needs no
        // alignment); the value was initialised and is no longer written
        // (happens-before).
        unsafe { self.ptr(offset).cast::<u64>().read_unaligned() }
    }

    /// Writes the `u64` at `offset`.
    ///
    /// # Safety
    /// `[offset, offset + 8)` lies in an allocation that the calling thread
    /// owns and has not published yet.
    #[inline]
    pub(crate) unsafe fn write_u64(&self, offset: usize, value: u64) {
        // SAFETY: in bounds, and no other thread reads it yet.
        unsafe { self.ptr(offset).cast::<u64>().write_unaligned(value) }
    }

    /// The atomic `u32` at `offset`.
    ///
    /// # Safety
    /// `offset` is 4-aligned, `[offset, offset + 4)` lies in an allocation,
    /// and those bytes are only ever accessed as an atomic.
    #[inline]
    pub(crate) unsafe fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: `AtomicU32` has the size and alignment of `u32`; the bytes
        // are in bounds, aligned, initialised (the mapping starts zeroed),
        // live as long as `self`, and are never accessed non-atomically.
        unsafe { &*self.ptr(offset).cast::<AtomicU32>() }
    }

    /// The `len` bytes at `offset`.
    ///
    /// # Safety
    /// `[offset, offset + len)` lies in an allocation, was written before,
    /// the write happens-before this call, and the bytes are never written
    /// again.
    #[inline]
    pub(crate) unsafe fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        // SAFETY: in bounds and immutable from now on, per the contract; the
        // mapping lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr(offset), len) }
    }

    /// Copies `src` to `offset`.
    ///
    /// # Safety
    /// `[offset, offset + src.len())` lies in an allocation that the calling
    /// thread owns and has not published yet.
    #[inline]
    pub(crate) unsafe fn write_bytes(&self, offset: usize, src: &[u8]) {
        // SAFETY: in bounds, no other thread reads it yet, and `src` cannot
        // overlap the arena's unpublished range.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr(offset), src.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memtable_arena_hands_out_aligned_disjoint_ranges_until_full() {
        let arena = Arena::new(64);
        assert_eq!(arena.used(), ALIGN, "offset 0 is reserved");
        assert_eq!(arena.alloc(16), Some(ALIGN as u32));
        assert_eq!(arena.alloc(48), None, "ALIGN + 16 + 48 > 64");
        assert_eq!(
            arena.used(),
            ALIGN + 16,
            "a refused allocation takes nothing"
        );
        let rest = 64 - ALIGN - 16;
        assert_eq!(arena.alloc(rest), Some(ALIGN as u32 + 16));
        assert_eq!(arena.used(), 64);
        assert_eq!(arena.alloc(ALIGN), None);
        assert_eq!(arena.used(), 64);
    }

    #[test]
    fn memtable_arena_rounds_capacity_up_to_alignment() {
        assert_eq!(Arena::new(0).capacity(), ALIGN);
        assert_eq!(Arena::new(13).capacity(), 16);
    }
}
