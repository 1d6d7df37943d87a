//! [`BlockBuf`]: the memory a decoded block lives in — a `Vec`'s, or a
//! 4 KiB frame of a [`FramePool`] on huge pages.
//!
//! Why frames: the block cache holds thousands of 4 KiB blocks. Allocated
//! one by one from the heap, each sits on its own 4 KiB page, so a lookup
//! that reads a cached block, or copies a missed one out of the kernel's
//! page cache, first walks the page tables for it (the second-level TLB
//! covers about 12 MiB of 4 KiB pages, the cache is 32 MiB). A pool cuts
//! 2 MiB chunks into frames and asks for huge pages (`MADV_HUGEPAGE`; a
//! hint, the pool works the same without it), so the whole cache fits in
//! a few dozen TLB entries. A point lookup that misses the cache reads its
//! block into a frame when the block fits one.
//!
//! Invariants:
//! - a `BlockBuf` owns its memory alone: a `Vec`'s allocation (returned
//!   to the allocator when dropped), or one frame, which is on its pool's
//!   free list whenever no `BlockBuf` owns it;
//! - every byte of a frame is initialized (chunks are mapped zeroed), so a
//!   frame's length may be set to anything up to [`FRAME_SIZE`];
//! - a pool's chunks are unmapped only once the pool is dropped *and*
//!   every frame is back on the free list, whichever happens last; until
//!   then its shared state stays allocated.

use memmap2::MmapMut;
use parking_lot::Mutex;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Bytes of a frame: a data block of the default size (sealed blocks are
/// laid out within one 4 KiB page of their file, see `builder.rs`).
pub const FRAME_SIZE: usize = 4096;

/// Bytes of a chunk: one huge page.
const CHUNK_SIZE: usize = 2 << 20;

/// A block's bytes. Dereferences to its `len` bytes.
pub struct BlockBuf {
    ptr: NonNull<u8>,
    len: usize,
    /// A `Vec`'s capacity, or [`FRAME_SIZE`].
    cap: usize,
    /// The pool the frame belongs to; `None` for a `Vec`'s memory.
    pool: Option<NonNull<Shared>>,
}

// SAFETY: a `BlockBuf` owns its memory exclusively (as a `Vec` does), and
// its pool's shared state is only touched under that state's mutex.
unsafe impl Send for BlockBuf {}
// SAFETY: `&BlockBuf` only gives out `&[u8]`.
unsafe impl Sync for BlockBuf {}

impl BlockBuf {
    /// Bytes held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory it takes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Shortens it to `len` bytes (no effect if it is not longer).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Whether its memory is a pool's frame.
    pub fn is_frame(&self) -> bool {
        self.pool.is_some()
    }

    /// The `Vec` it was made from, or `None` (dropping the frame) if its
    /// memory is a frame.
    pub fn into_vec(self) -> Option<Vec<u8>> {
        if self.pool.is_some() {
            return None;
        }
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `ptr`, `len` and `cap` came from a `Vec<u8>` (see
        // `From<Vec<u8>>`) whose ownership passed to `me`, which is not
        // dropped.
        Some(unsafe { Vec::from_raw_parts(me.ptr.as_ptr(), me.len, me.cap) })
    }
}

impl From<Vec<u8>> for BlockBuf {
    fn from(vec: Vec<u8>) -> BlockBuf {
        let mut vec = std::mem::ManuallyDrop::new(vec);
        BlockBuf {
            // SAFETY: a `Vec`'s pointer is never null.
            ptr: unsafe { NonNull::new_unchecked(vec.as_mut_ptr()) },
            len: vec.len(),
            cap: vec.capacity(),
            pool: None,
        }
    }
}

impl Deref for BlockBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `cap >= len` bytes owned by `self`, the
        // first `len` initialized (a `Vec`'s length, or any length of a
        // frame, whose bytes are all initialized).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for BlockBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for BlockBuf {
    fn drop(&mut self) {
        match self.pool {
            // SAFETY: a frame's pool state lives until its last frame is
            // back (module invariant), and this frame is not back yet.
            Some(shared) => unsafe { Shared::put(shared, self.ptr) },
            // SAFETY: as in `into_vec`.
            None => drop(unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), self.len, self.cap) }),
        }
    }
}

impl std::fmt::Debug for BlockBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBuf")
            .field("len", &self.len)
            .field("frame", &self.is_frame())
            .finish()
    }
}

/// Frames of [`FRAME_SIZE`] bytes carved from 2 MiB chunks, reused through
/// a free list. Owned by the block cache; frames may outlive it.
pub(crate) struct FramePool {
    shared: NonNull<Shared>,
}

// SAFETY: the shared state is only touched under its mutex.
unsafe impl Send for FramePool {}
// SAFETY: as above.
unsafe impl Sync for FramePool {}

/// A pool's state, freed by whichever of the pool and its last frame goes
/// last.
struct Shared {
    state: Mutex<State>,
}

struct State {
    chunks: Vec<MmapMut>,
    /// Frames no `BlockBuf` owns.
    free: Vec<NonNull<u8>>,
    /// Frames owned by a `BlockBuf`.
    out: usize,
    /// Whether the pool was dropped.
    closed: bool,
}

impl FramePool {
    pub(crate) fn new() -> FramePool {
        let shared = Box::new(Shared {
            state: Mutex::new(State {
                chunks: Vec::new(),
                free: Vec::new(),
                out: 0,
                closed: false,
            }),
        });
        FramePool {
            shared: NonNull::from(Box::leak(shared)),
        }
    }

    /// A frame holding `len` bytes (of earlier contents), or `None` when
    /// `len` exceeds [`FRAME_SIZE`] or no memory could be mapped.
    pub(crate) fn take(&self, len: usize) -> Option<BlockBuf> {
        if len > FRAME_SIZE {
            return None;
        }
        // SAFETY: the pool is alive, so is its shared state.
        let shared = unsafe { self.shared.as_ref() };
        let mut state = shared.state.lock();
        if state.free.is_empty() {
            state.grow()?;
        }
        let ptr = state.free.pop()?;
        state.out += 1;
        Some(BlockBuf {
            ptr,
            len,
            cap: FRAME_SIZE,
            pool: Some(self.shared),
        })
    }

    /// Bytes of the chunks mapped so far.
    #[cfg(test)]
    fn mapped(&self) -> usize {
        // SAFETY: the pool is alive, so is its shared state.
        unsafe { self.shared.as_ref() }.state.lock().chunks.len() * CHUNK_SIZE
    }
}

impl Drop for FramePool {
    fn drop(&mut self) {
        // SAFETY: the pool is alive until this returns, so is its state.
        let done = {
            let mut state = unsafe { self.shared.as_ref() }.state.lock();
            state.closed = true;
            state.out == 0
        };
        if done {
            // SAFETY: closed with no frame out: nothing refers to it any
            // more, and nothing will (the pool is gone).
            unsafe { Shared::free(self.shared) };
        }
    }
}

impl State {
    /// Maps one more chunk and puts its frames on the free list.
    fn grow(&mut self) -> Option<()> {
        let mut chunk = MmapMut::map_anon(CHUNK_SIZE).ok()?;
        // A hint only: without huge pages the frames work the same (Miri,
        // which has no `madvise`, runs without).
        #[cfg(all(target_os = "linux", not(miri)))]
        let _ = chunk.advise(memmap2::Advice::HugePage);
        let base = chunk.as_mut_ptr();
        self.free.reserve(CHUNK_SIZE / FRAME_SIZE);
        // Last frame first, so that frames are handed out in address order.
        for i in (0..CHUNK_SIZE / FRAME_SIZE).rev() {
            // SAFETY: `i * FRAME_SIZE < CHUNK_SIZE`, inside the mapping,
            // whose address is not null.
            self.free
                .push(unsafe { NonNull::new_unchecked(base.add(i * FRAME_SIZE)) });
        }
        // The mapping's memory does not move when the `MmapMut` does.
        self.chunks.push(chunk);
        Some(())
    }
}

impl Shared {
    /// Puts frame `ptr` back on the free list of the pool state `shared`.
    ///
    /// # Safety
    /// `ptr` is a frame of this pool, owned by the caller, which gives it
    /// up; `shared` is therefore still allocated.
    unsafe fn put(shared: NonNull<Shared>, ptr: NonNull<u8>) {
        // SAFETY: per the contract, the state is allocated.
        let done = {
            let mut state = unsafe { shared.as_ref() }.state.lock();
            state.free.push(ptr);
            state.out -= 1;
            state.closed && state.out == 0
        };
        if done {
            // SAFETY: the pool is gone and this was its last frame.
            unsafe { Shared::free(shared) };
        }
    }

    /// Frees the state and unmaps the chunks.
    ///
    /// # Safety
    /// The pool is dropped and no frame is out: nothing refers to `shared`.
    unsafe fn free(shared: NonNull<Shared>) {
        // SAFETY: allocated by `Box::leak` in `FramePool::new`, freed once.
        drop(unsafe { Box::from_raw(shared.as_ptr()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn vec_round_trip_keeps_bytes_and_capacity() {
        let mut vec = Vec::with_capacity(100);
        vec.extend_from_slice(b"hello");
        let buf = BlockBuf::from(vec);
        assert_eq!(&*buf, b"hello");
        assert_eq!(buf.capacity(), 100);
        assert!(!buf.is_frame());
        let vec = buf.into_vec().unwrap();
        assert_eq!((vec.as_slice(), vec.capacity()), (&b"hello"[..], 100));
    }

    #[test]
    fn frames_are_reused_and_keep_their_own_bytes() {
        let pool = FramePool::new();
        assert!(pool.take(FRAME_SIZE + 1).is_none());
        let mut a = pool.take(FRAME_SIZE).unwrap();
        let mut b = pool.take(10).unwrap();
        assert!(a.is_frame() && a.capacity() == FRAME_SIZE);
        assert_eq!(a.len(), FRAME_SIZE);
        assert!(a.iter().all(|&byte| byte == 0), "a new frame is zeroed");
        a.fill(1);
        b.fill(2);
        assert!(a.iter().all(|&byte| byte == 1) && b.iter().all(|&byte| byte == 2));
        b.truncate(3);
        assert_eq!(&*b, &[2, 2, 2]);
        let a_addr = a.as_ptr();
        drop(a);
        let c = pool.take(FRAME_SIZE).unwrap();
        assert_eq!(c.as_ptr(), a_addr, "the frame given back is taken next");
        assert!(c.iter().all(|&byte| byte == 1), "earlier contents stay");
        assert!(b.into_vec().is_none());
        assert_eq!(pool.mapped(), CHUNK_SIZE);
    }

    #[test]
    fn a_pool_grows_by_chunks_and_frames_do_not_overlap() {
        let pool = FramePool::new();
        let per_chunk = CHUNK_SIZE / FRAME_SIZE;
        let mut frames: Vec<BlockBuf> = (0..per_chunk + 1).map(|_| pool.take(8).unwrap()).collect();
        assert_eq!(pool.mapped(), 2 * CHUNK_SIZE);
        for (i, frame) in frames.iter_mut().enumerate() {
            frame.copy_from_slice(&(i as u64).to_le_bytes());
        }
        let mut starts: Vec<usize> = frames.iter().map(|f| f.as_ptr() as usize).collect();
        starts.sort_unstable();
        assert!(starts.windows(2).all(|w| w[1] - w[0] >= FRAME_SIZE));
        for (i, frame) in frames.iter().enumerate() {
            assert_eq!(&frame[..], &(i as u64).to_le_bytes());
        }
    }

    #[test]
    fn frames_outlive_their_pool_and_cross_threads() {
        let pool = FramePool::new();
        let frames: Vec<BlockBuf> = (0..64)
            .map(|i| {
                let mut f = pool.take(1).unwrap();
                f[0] = i as u8;
                f
            })
            .collect();
        drop(pool);
        let frames = Arc::new(frames);
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let frames = Arc::clone(&frames);
                std::thread::spawn(move || {
                    for (i, frame) in frames.iter().enumerate() {
                        assert_eq!(frame[0], i as u8);
                    }
                })
            })
            .collect();
        for reader in readers {
            reader.join().unwrap();
        }
        // The last frame dropped frees the pool (Miri/ASan would see a
        // leak or a use after free here).
        drop(frames);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "Miri (nightly 2026-10-29) rejects parking_lot_core 0.9.12's futex call when the mutex is contended"
    )]
    fn concurrent_take_and_put_never_share_a_frame() {
        let pool = Arc::new(FramePool::new());
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let pool = Arc::clone(&pool);
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    for round in 0..2000u32 {
                        let mut frame = pool.take(16).unwrap();
                        frame.fill(t);
                        held.push(frame);
                        if round % 3 == 0 {
                            held.swap_remove((round as usize * 7) % held.len());
                        }
                        assert!(held.iter().all(|f| f.iter().all(|&b| b == t)));
                        if held.len() > 40 {
                            held.clear();
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}
