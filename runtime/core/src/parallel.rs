//! Splitting one op's output across workers. The no_std core only defines the interface
//! and runs the parts in order ([`Sequential`]); std hosts plug in a thread pool
//! (`ThreadPool`, feature `std`). Kernels never see threads: each call gets its own
//! disjoint slice of the output (a range of rows or of output channels).

/// Runs the parts of one op, possibly concurrently.
pub trait Parallel: Sync {
    /// Into how many parts a large op is split (1 runs everything inline).
    fn workers(&self) -> usize;
    /// Call `f(i, chunk)` for every `(i, chunk)` of `out.chunks_mut(chunk_len)` (possibly
    /// on several threads) and return when every call has returned.
    fn for_chunks(&self, out: &mut [u8], chunk_len: usize, f: &(dyn Fn(usize, &mut [u8]) + Sync));
}

/// One worker: the parts run in order on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sequential;

impl Parallel for Sequential {
    fn workers(&self) -> usize {
        1
    }
    fn for_chunks(&self, out: &mut [u8], chunk_len: usize, f: &(dyn Fn(usize, &mut [u8]) + Sync)) {
        for (i, c) in out.chunks_mut(chunk_len.max(1)).enumerate() {
            f(i, c);
        }
    }
}

/// Multiply-accumulates below which an op part isn't worth waking a thread for.
pub(crate) const MIN_PART_MACS: u64 = 1 << 21;
