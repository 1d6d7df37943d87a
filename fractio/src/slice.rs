//! [`Slice`]: the owned byte string fractio hands out as a key or a value.
//!
//! Reads return owned bytes because the memory they came from (a memtable,
//! a cached block) may be freed as soon as the call returns. A `Slice` of up
//! to [`INLINE_CAPACITY`] bytes lives inline, so the common small key or
//! value costs a copy and no heap allocation; a longer one is shared behind
//! an `Arc`, so cloning any `Slice` is cheap.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The longest byte string a [`Slice`] stores without a heap allocation.
pub const INLINE_CAPACITY: usize = 118;

/// An owned, immutable, cheaply cloned byte string. Derefs to `[u8]`.
#[derive(Clone)]
pub struct Slice(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE_CAPACITY] },
    Shared(Arc<[u8]>),
}

/// A key handed out by fractio.
pub type Key = Slice;
/// A value handed out by fractio.
pub type Value = Slice;

impl Slice {
    /// Copies `bytes` into a new `Slice`.
    #[inline]
    pub fn copy_from(bytes: &[u8]) -> Slice {
        if bytes.len() <= INLINE_CAPACITY {
            let mut buf = [0u8; INLINE_CAPACITY];
            buf[..bytes.len()].copy_from_slice(bytes);
            Slice(Repr::Inline {
                len: bytes.len() as u8,
                buf,
            })
        } else {
            Slice(Repr::Shared(Arc::from(bytes)))
        }
    }

    /// The empty slice.
    pub fn empty() -> Slice {
        Slice::copy_from(&[])
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..*len as usize],
            Repr::Shared(bytes) => bytes,
        }
    }

    /// Copies the bytes into a `Vec`.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl Deref for Slice {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Slice {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Slice {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&[u8]> for Slice {
    fn from(bytes: &[u8]) -> Slice {
        Slice::copy_from(bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for Slice {
    fn from(bytes: &[u8; N]) -> Slice {
        Slice::copy_from(bytes)
    }
}

impl From<Vec<u8>> for Slice {
    fn from(bytes: Vec<u8>) -> Slice {
        if bytes.len() <= INLINE_CAPACITY {
            Slice::copy_from(&bytes)
        } else {
            Slice(Repr::Shared(Arc::from(bytes)))
        }
    }
}

impl From<&str> for Slice {
    fn from(text: &str) -> Slice {
        Slice::copy_from(text.as_bytes())
    }
}

impl From<Slice> for Vec<u8> {
    fn from(slice: Slice) -> Vec<u8> {
        slice.to_vec()
    }
}

impl fmt::Debug for Slice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.as_bytes().escape_ascii())
    }
}

impl PartialEq for Slice {
    fn eq(&self, other: &Slice) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Slice {}

impl PartialEq<[u8]> for Slice {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for Slice {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Slice {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_bytes() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Slice {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_bytes() == *other
    }
}

impl PartialEq<Vec<u8>> for Slice {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

impl PartialEq<str> for Slice {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Slice {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialOrd for Slice {
    fn partial_cmp(&self, other: &Slice) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Slice {
    fn cmp(&self, other: &Slice) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Slice {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_shared_behave_alike() {
        let short = Slice::from(&b"hello"[..]);
        let long_bytes = vec![7u8; INLINE_CAPACITY + 1];
        let long = Slice::from(long_bytes.clone());
        assert_eq!(short, b"hello");
        assert_eq!(long, long_bytes);
        assert_eq!(long.clone(), long);
        assert!(short.as_bytes() < b"hellp".as_slice());
        assert_eq!(Slice::empty().len(), 0);
        let exact = vec![1u8; INLINE_CAPACITY];
        assert_eq!(Slice::from(exact.as_slice()), exact);
        assert_eq!(format!("{:?}", Slice::from("a\n")), "b\"a\\n\"");
    }
}
