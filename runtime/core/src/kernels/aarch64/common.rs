//! What the aarch64 int8 micro-kernels need beyond the shared drivers: the requantization
//! of 16 int32 accumulators and masked stores.

use core::arch::aarch64::*;

use crate::format::packing::OC_BLOCK;
use crate::kernels::QOut;


/// The requantization rule of `kernels/mod.rs` for one block of 16 output channels:
/// `scvtf` (round to nearest, as `as f32`), `fmul`, clamp with `fmaxnm`/`fminnm` (as
/// `f32::max`/`min`), `fcvtns` (round half to even, as the reference's `1.5 * 2^23` trick
/// for |v| < 2^22), `+ zy`, and saturating narrows of values already in range.
#[derive(Clone, Copy)]
pub(crate) struct Requant {
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
        // SAFETY: `p..p + n` with `n >= 16` is writable (# Safety).
        unsafe { vst1q_s8(p, v) };
    } else {
        let mut tmp = [0i8; 16];
        // SAFETY: `tmp` holds 16 bytes.
        unsafe { vst1q_s8(tmp.as_mut_ptr(), v) };
        // SAFETY: `p..p + n` is writable (# Safety); `tmp` is a separate local of 16 >= n.
        unsafe { core::ptr::copy_nonoverlapping(tmp.as_ptr(), p, n) };
    }
}
