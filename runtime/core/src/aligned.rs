//! A heap byte buffer aligned for the runtime (a model and its arena must start 16-byte
//! aligned), for hosts with `std`: the one such buffer the compiler, the streaming pipeline,
//! the examples and the tests share. Devices without an allocator use a `static` instead.

use std::vec;
use std::vec::Vec;

/// A zero-initialized byte buffer whose start is 64-byte aligned.
#[derive(Clone)]
pub struct AlignedBuf {
    words: Vec<Block>,
    len: usize,
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u8; 64]);

impl AlignedBuf {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> AlignedBuf {
        AlignedBuf { words: vec![Block([0; 64]); len.div_ceil(64)], len }
    }

    /// A copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> AlignedBuf {
        let mut b = AlignedBuf::zeroed(bytes.len());
        b.as_mut_slice().copy_from_slice(bytes);
        b
    }

    /// Read a file into an aligned buffer.
    pub fn read(path: &std::path::Path) -> std::io::Result<AlignedBuf> {
        Ok(AlignedBuf::from_bytes(&std::fs::read(path)?))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `words` holds at least `len` initialized bytes (Block is plain u8 data,
        // repr(C) without padding), and the borrow of self keeps them alive and unaliased.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }

    /// The bytes, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; the mutable borrow of self makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligned_and_copied() {
        let b = super::AlignedBuf::from_bytes(&[1, 2, 3]);
        assert_eq!(b.as_slice(), &[1, 2, 3]);
        assert_eq!(b.as_slice().as_ptr() as usize % 64, 0);
    }
}
