//! Conv kernels' scratch: how much the arena holds past the file's activation plan
//! ([`scratch_size`], part of [`crate::Model::arena_size`]) and its split into one region per
//! part of a split op ([`Regions`]). Sized for the largest need of any conv op under any
//! kernel set this build and CPU can run, so a kernel never builds its tables on the stack.

use crate::format::BUFFER_ALIGN;
use crate::kernels::{self, Geom, Kernels};
use crate::layer::LayerKind;
use crate::model::Model;

/// Parts of a split op that get scratch regions of their own: as many as this host has
/// hardware threads (at most 64) with `std`, one without (where a [`Parallel`] gets more
/// workers, conv ops with scratch are split into this many parts only).
fn scratch_parts() -> usize {
    #[cfg(feature = "std")]
    return std::thread::available_parallelism().map_or(1, |n| n.get()).min(64);
    #[cfg(not(feature = "std"))]
    1
}

/// Scratch bytes of one part of conv op `op` under kernel set `k` (a whole number of
/// arena alignments, so every region starts aligned).
pub(crate) fn part_scratch(k: &Kernels, g: &Geom, int8: bool) -> usize {
    let n = if int8 { (k.conv2d_i8_scratch)(g) } else { (k.conv2d_f32_scratch)(g) };
    n.div_ceil(BUFFER_ALIGN) * BUFFER_ALIGN
}

/// Scratch bytes the conv kernels need past the planned arena: the largest need of any
/// conv op under any kernel set this build and CPU can run, times [`scratch_parts`].
pub(crate) fn scratch_size(m: &Model<'_>) -> usize {
    let mut need = 0;
    for l in (0..m.n_ops()).filter_map(|i| m.layer(i).ok()) {
        if let LayerKind::Conv2d(c) = l.kind {
            for k in kernels::available() {
                need = need.max(part_scratch(k, &c.g, l.x.dtype == crate::DType::I8));
            }
        }
    }
    need.saturating_mul(scratch_parts())
}

/// The scratch past the planned arena, as regions of `each` bytes for the parts of one op.
pub(crate) struct Regions<'s> {
    base: *mut u8,
    each: usize,
    pub(crate) n: usize,
    _s: core::marker::PhantomData<&'s mut [u8]>,
}

// SAFETY: `Regions` hands region `i` only to part `i` of one split, and `for_chunks` calls
// each part once, so no two threads touch the same bytes.
unsafe impl Sync for Regions<'_> {}

impl<'s> Regions<'s> {
    pub(crate) fn new(s: &'s mut [u8], each: usize) -> Regions<'s> {
        let n = s.len().checked_div(each).unwrap_or(usize::MAX);
        Regions { base: s.as_mut_ptr(), each, n, _s: core::marker::PhantomData }
    }

    /// Region `i` (empty where there is none: the kernel then runs the scalar reference).
    ///
    /// # Safety
    /// No other slice of region `i` is alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get(&self, i: usize) -> &mut [u8] {
        if self.each == 0 || i >= self.n {
            return &mut [];
        }
        // SAFETY: regions `0..n` lie inside the borrowed scratch; the caller keeps them unshared.
        unsafe { core::slice::from_raw_parts_mut(self.base.add(i * self.each), self.each) }
    }
}
