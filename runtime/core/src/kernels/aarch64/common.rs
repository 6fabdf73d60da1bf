//! What every aarch64 conv/dense kernel checks before it touches memory through raw
//! pointers (the same checks as `x86/common.rs`), the per-block weight sums, and the
//! requantization of 16 int32 accumulators.
//!
//! The kernels are safe functions: [`conv_shape`] / [`dense_shape`] verify in O(1) that the
//! arguments are consistent (slice lengths, geometry); when they aren't, or the packing
//! isn't BLOCKED, the kernel calls the scalar reference instead, which indexes slices
//! (and so panics rather than reading out of bounds).

use core::arch::aarch64::*;

use crate::format::packing::{self, Blocked, OC_BLOCK};
use crate::kernels::{Geom, QOut};

/// Input channel groups per chunk: a kernel re-aims its per-pixel input pointers every
/// `CHUNK` packed groups, so a padded tap can point at a `CHUNK`-group buffer of zero-point
/// values instead of being skipped.
pub(super) const CHUNK: usize = 256;

/// Checks the arguments of a conv kernel: BLOCKED packing, consistent geometry, and slices
/// long enough for every read and write. Returns the packed shape.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_shape(
    g: &Geom,
    pk: u8,
    int8: bool,
    x_len: usize,
    w_len: usize,
    per_oc: &[usize],
    oy0: usize,
    y_len: usize,
) -> Option<Blocked> {
    if pk != packing::BLOCKED
        || g.groups == 0
        || !g.ic.is_multiple_of(g.groups)
        || !g.oc.is_multiple_of(g.groups)
        || g.oc == 0
        || g.ic == 0
    {
        return None;
    }
    if [g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.ow].contains(&0) {
        return None;
    }
    let x_need = g.ih.checked_mul(g.iw)?.checked_mul(g.ic)?;
    let b = Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, int8);
    let row = g.ow.checked_mul(g.oc)?;
    let rows = y_len / row;
    let ok = x_len >= x_need
        && w_len >= b.elements()?
        && per_oc.iter().all(|&n| n >= g.oc)
        && y_len.is_multiple_of(row)
        && oy0.checked_add(rows)? <= g.oh
        // Offsets stay far from overflow: every tap coordinate fits comfortably in isize.
        && g.oh.max(g.ih).max(g.iw).max(g.ow) < 1 << 24
        && g.kh.max(g.kw).max(g.sh).max(g.sw).max(g.dh).max(g.dw).max(g.pt).max(g.pl) < 1 << 16;
    ok.then_some(b)
}

/// Checks the arguments of a dense kernel (`n` outputs of `k` inputs, outputs `n0..` into
/// `y_len` elements). Returns the packed shape.
pub(super) fn dense_shape(
    pk: u8,
    int8: bool,
    k: usize,
    w_len: usize,
    per_n: &[usize],
    n0: usize,
    y_len: usize,
) -> Option<Blocked> {
    let n = *per_n.iter().min()?;
    if pk != packing::BLOCKED
        || k == 0
        || n == 0
        || !n0.is_multiple_of(OC_BLOCK)
        || n0.checked_add(y_len)? > n
    {
        return None;
    }
    let b = Blocked::dense(n, k, int8);
    (w_len >= b.elements()?).then_some(b)
}

/// Per-lane sums of one output block of int8 BLOCKED weights (`[..][16][4]` rows of 64
/// bytes): the sum of each output channel's weights over all taps, wrapping.
pub(super) fn block_wsum(blk: &[i8]) -> [i32; OC_BLOCK] {
    let mut s = [0i32; OC_BLOCK];
    for row in blk.chunks_exact(64) {
        for (l, acc) in s.iter_mut().enumerate() {
            let q = &row[4 * l..4 * l + 4];
            *acc = acc.wrapping_add(q[0] as i32 + q[1] as i32 + q[2] as i32 + q[3] as i32);
        }
    }
    s
}

/// `v[c0..c0 + valid]` (at most 16) in a 16-lane array, padded lanes default (zero).
pub(super) fn lanes<T: Copy + Default>(v: &[T], c0: usize, valid: usize) -> [T; OC_BLOCK] {
    let mut o = [T::default(); OC_BLOCK];
    let n = valid.min(OC_BLOCK);
    o[..n].copy_from_slice(&v[c0..c0 + n]);
    o
}

/// The requantization rule of `kernels/mod.rs` for one block of 16 output channels:
/// `scvtf` (round to nearest, as `as f32`), `fmul`, clamp with `fmaxnm`/`fminnm` (as
/// `f32::max`/`min`), `fcvtns` (round half to even, as the reference's `1.5 * 2^23` trick
/// for |v| < 2^22), `+ zy`, and saturating narrows of values already in range.
#[derive(Clone, Copy)]
pub(super) struct Requant {
    /// Added to the dot products first: `bias - zx * Σw` per channel.
    pub init: [int32x4_t; 4],
    mult: [float32x4_t; 4],
    lo: float32x4_t,
    hi: float32x4_t,
    zy: int32x4_t,
}

impl Requant {
    /// The rule for output quantization `q`, `mult` and `init` per channel of the block.
    #[target_feature(enable = "neon")]
    pub(super) fn new(init: &[i32; OC_BLOCK], mult: &[f32; OC_BLOCK], q: QOut) -> Requant {
        let mut r = Requant {
            init: [vdupq_n_s32(0); 4],
            mult: [vdupq_n_f32(0.0); 4],
            lo: vdupq_n_f32((q.lo - q.zy) as f32),
            hi: vdupq_n_f32((q.hi - q.zy) as f32),
            zy: vdupq_n_s32(q.zy),
        };
        for i in 0..4 {
            // SAFETY: `init` and `mult` hold 16 elements; 4i + 4 <= 16.
            unsafe {
                r.init[i] = vld1q_s32(init[4 * i..].as_ptr());
                r.mult[i] = vld1q_f32(mult[4 * i..].as_ptr());
            }
        }
        r
    }

    /// Requantize 16 dot products (channels in order, 4 per vector) to 16 int8 outputs.
    #[inline]
    #[target_feature(enable = "neon")]
    pub(super) fn apply(&self, s: [int32x4_t; 4]) -> int8x16_t {
        let mut r = [vdupq_n_s32(0); 4];
        for i in 0..4 {
            let v = vmulq_f32(vcvtq_f32_s32(vaddq_s32(s[i], self.init[i])), self.mult[i]);
            let v = vminnmq_f32(vmaxnmq_f32(v, self.lo), self.hi);
            r[i] = vaddq_s32(vcvtnq_s32_f32(v), self.zy);
        }
        let h0 = vcombine_s16(vqmovn_s32(r[0]), vqmovn_s32(r[1]));
        let h1 = vcombine_s16(vqmovn_s32(r[2]), vqmovn_s32(r[3]));
        vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1))
    }
}

/// Store the first `n` (0..=16) lanes of `v` at `p`.
///
/// # Safety
/// `p..p + n` is writable.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn store_i8(p: *mut i8, v: int8x16_t, n: usize) {
    if n >= 16 {
        vst1q_s8(p, v);
    } else {
        let mut tmp = [0i8; 16];
        vst1q_s8(tmp.as_mut_ptr(), v);
        core::ptr::copy_nonoverlapping(tmp.as_ptr(), p, n);
    }
}
