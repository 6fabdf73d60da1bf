//! NEON int8 convolution on BLOCKED weights, and the micro-tile driver the `sdot` kernel
//! shares ([`conv_blocked`], generic over the dot-product step [`DotI8`]).
//!
//! A micro-tile holds `NN` output pixels x 16 output channels for the whole reduction (all
//! taps, all input channels). Per group of 4 input channels, the 64-byte weight row (16
//! output channels x 4 input channels) is four registers; each pixel's 4 input bytes are
//! broadcast and meet them in [`DotI8::step`]. Without the dot product ([`Smull`]) the step
//! is `smull`/`smull2` (int8 x int8 -> int16, exact) and `sadalp` (pairwise add into int32):
//! 8 accumulators of (channel, half-sum) pairs per pixel, folded with `addp` at the end.
//!
//! Exactness: a tap that falls in the padding reads the input zero point `zx` (a buffer of
//! them), so every pixel runs all taps and `acc = bias - zx * Σw + Σ x' * w =
//! bias + Σ_inside (x - zx) * w` with `x' = zx` on padded taps: the reference's accumulator,
//! mod 2^32 (every sum wraps). Bytes of a group past the pixel's channels (`icg` not a
//! multiple of 4) meet zero weights; reads that would pass the input's end come from a copy
//! of its last bytes followed by zeros. Requantization: [`Requant`].

// Register tiles are indexed by pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::aarch64::*;

use super::common::{block_wsum, conv_shape, lanes, store_i8, Requant, CHUNK};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_conv2d_i8, ConvI8, Geom};

/// One int8 dot-product step: 16 output channels x 4 input channels against the 4 input
/// bytes of one pixel.
pub(super) trait DotI8 {
    /// The accumulators of one pixel x 16 output channels.
    type Acc: Copy;
    /// Pixels per micro-tile the accumulators leave registers for (4 or 2).
    const PIXELS: usize;
    /// Zeroed accumulators.
    ///
    /// # Safety
    /// The CPU has NEON (every target that builds this module's kernel sets).
    unsafe fn zero() -> Self::Acc;
    /// `acc[c] += Σ_i w[c][i] * x[i]` for the 16 channels `c` of the row `w` (channel `c`
    /// in bytes `4c..4c + 4`), `x` the pixel's 4 bytes repeated 4 times.
    ///
    /// # Safety
    /// The CPU has the instructions of the implementation (the kernel set was handed out).
    unsafe fn step(acc: &mut Self::Acc, w: &[int8x16_t; 4], x: int8x16_t);
    /// The 16 channel sums, channels in order, 4 per vector.
    ///
    /// # Safety
    /// As [`DotI8::zero`].
    unsafe fn finish(acc: Self::Acc) -> [int32x4_t; 4];
}

/// The NEON step: `smull`/`smull2` + `sadalp`, then `addp`.
pub(super) struct Smull;

impl DotI8 for Smull {
    type Acc = [int32x4_t; 8];
    const PIXELS: usize = 2;
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn zero() -> Self::Acc {
        [vdupq_n_s32(0); 8]
    }
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn step(acc: &mut Self::Acc, w: &[int8x16_t; 4], x: int8x16_t) {
        let xl = vget_low_s8(x);
        for r in 0..4 {
            // Channels 4r, 4r+1 (low half) and 4r+2, 4r+3 (high half): 8 products each,
            // added in pairs into (channel, half-sum) lanes.
            acc[2 * r] = vpadalq_s16(acc[2 * r], vmull_s8(vget_low_s8(w[r]), xl));
            acc[2 * r + 1] = vpadalq_s16(acc[2 * r + 1], vmull_high_s8(w[r], x));
        }
    }
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn finish(acc: Self::Acc) -> [int32x4_t; 4] {
        [
            vpaddq_s32(acc[0], acc[1]),
            vpaddq_s32(acc[2], acc[3]),
            vpaddq_s32(acc[4], acc[5]),
            vpaddq_s32(acc[6], acc[7]),
        ]
    }
}

/// int8 convolution, NEON. Falls back to the scalar reference for other packings.
pub(super) fn neon_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    match conv_shape(
        &a.g,
        a.packing,
        true,
        a.x.len(),
        a.w.len(),
        &[a.bias.len(), a.mult.len()],
        oy0,
        y.len(),
    ) {
        // SAFETY: NEON is baseline on the targets that build this set; `conv_shape` checked
        // that the slices cover every read and write `conv_blocked` makes.
        Some(b) => unsafe { conv_blocked::<Smull>(a, &b, oy0, y) },
        None => scalar_conv2d_i8(a, oy0, y),
    }
}

/// What a micro-tile needs, fixed per block of 16 output channels.
struct Tile {
    x: *const i8,
    x_len: usize,
    /// `4 * CHUNK` bytes of `zx`: the source of padded taps.
    pad: *const i8,
    /// The input's last `4 * CHUNK` bytes (from `tail_base`) followed by as many zeros.
    tail: *const i8,
    tail_base: usize,
    /// Weights of the block.
    w: *const i8,
    tap_len: usize,
    ng: usize,
    ic_off: usize,
    y: *mut i8,
    q0: usize,
    oc_off: usize,
    /// Real channels in this block (1..=16).
    valid: usize,
    rq: Requant,
}

/// The convolution for BLOCKED weights with step `D`.
///
/// # Safety
/// The CPU has `D`'s instructions, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "neon")]
pub(super) unsafe fn conv_blocked<D: DotI8>(a: &ConvI8<'_>, b: &Blocked, oy0: usize, y: &mut [i8]) {
    let g = &a.g;
    let pad = [a.zx as i8; 4 * CHUNK];
    let mut tail = [0i8; 8 * CHUNK];
    let tail_base = a.x.len().saturating_sub(4 * CHUNK);
    tail[..a.x.len() - tail_base].copy_from_slice(&a.x[tail_base..]);
    let rows = y.len() / (g.ow * g.oc);
    let (q0, q1) = (oy0 * g.ow, (oy0 + rows) * g.ow);
    let ob_n = b.oc_blocks();
    let zeros = [0i32; OC_BLOCK];
    let mut t = Tile {
        x: a.x.as_ptr(),
        x_len: a.x.len(),
        pad: pad.as_ptr(),
        tail: tail.as_ptr(),
        tail_base,
        w: a.w.as_ptr(),
        tap_len: b.tap_len(),
        ng: b.ic_groups(),
        ic_off: 0,
        y: y.as_mut_ptr(),
        q0,
        oc_off: 0,
        valid: 0,
        rq: Requant::new(&zeros, &[0.0; OC_BLOCK], a.q),
    };
    for gi in 0..g.groups {
        for ob in 0..ob_n {
            let blk = gi * ob_n + ob;
            let ws = block_wsum(&a.w[blk * b.block_len()..][..b.block_len()]);
            t.oc_off = gi * b.ocg + ob * OC_BLOCK;
            t.valid = (b.ocg - ob * OC_BLOCK).min(OC_BLOCK);
            let bias = lanes(a.bias, t.oc_off, t.valid);
            let mut init = [0i32; OC_BLOCK];
            for l in 0..OC_BLOCK {
                init[l] = bias[l].wrapping_sub(a.zx.wrapping_mul(ws[l]));
            }
            t.rq = Requant::new(&init, &lanes(a.mult, t.oc_off, t.valid), a.q);
            t.ic_off = gi * b.icg;
            t.w = a.w.as_ptr().add(blk * b.block_len());
            let mut q = q0;
            if D::PIXELS >= 4 {
                while q + 4 <= q1 {
                    micro::<D, 4>(g, &t, q);
                    q += 4;
                }
            }
            while q + 2 <= q1 {
                micro::<D, 2>(g, &t, q);
                q += 2;
            }
            if q < q1 {
                micro::<D, 1>(g, &t, q);
            }
        }
    }
}

/// Output pixels `q..q + NN` x the tile's 16 channels.
///
/// # Safety
/// As [`conv_blocked`]; `t` was filled by it and `q + NN` is within the caller's rows.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn micro<D: DotI8, const NN: usize>(g: &Geom, t: &Tile, q: usize) {
    let mut acc = [D::zero(); NN];
    let (mut oy, mut ox) = ([0usize; NN], [0usize; NN]);
    let (mut cy, mut cx) = (q / g.ow, q % g.ow);
    for p in 0..NN {
        (oy[p], ox[p]) = (cy, cx);
        cx += 1;
        if cx == g.ow {
            (cy, cx) = (cy + 1, 0);
        }
    }
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let mut off = [usize::MAX; NN];
            for p in 0..NN {
                let iy = (oy[p] * g.sh + ky * g.dh) as isize - g.pt as isize;
                let ix = (ox[p] * g.sw + kx * g.dw) as isize - g.pl as isize;
                if iy >= 0 && (iy as usize) < g.ih && ix >= 0 && (ix as usize) < g.iw {
                    off[p] = (iy as usize * g.iw + ix as usize) * g.ic + t.ic_off;
                }
            }
            let wt = t.w.add((ky * g.kw + kx) * t.tap_len);
            let mut c = 0;
            while c < t.ng {
                let cn = (t.ng - c).min(CHUNK);
                let mut src = [t.pad; NN];
                for p in 0..NN {
                    if off[p] == usize::MAX {
                        continue;
                    }
                    let s = off[p] + 4 * c;
                    if s + 4 * cn <= t.x_len {
                        src[p] = t.x.add(s);
                    } else {
                        // s < x_len and s + 4 * cn > x_len >= tail_base + ..., so the read
                        // starts inside the mirrored last 4 * CHUNK bytes and ends within
                        // the zeros after them; bytes that aren't this pixel's channels
                        // meet zero weights.
                        src[p] = t.tail.add(s - t.tail_base);
                    }
                }
                let wc = wt.add(c * 64);
                for j in 0..cn {
                    let wr = wc.add(j * 64);
                    let w = [
                        vld1q_s8(wr),
                        vld1q_s8(wr.add(16)),
                        vld1q_s8(wr.add(32)),
                        vld1q_s8(wr.add(48)),
                    ];
                    for p in 0..NN {
                        let xv = (src[p].add(4 * j) as *const i32).read_unaligned();
                        D::step(&mut acc[p], &w, vreinterpretq_s8_s32(vdupq_n_s32(xv)));
                    }
                }
                c += cn;
            }
        }
    }
    for p in 0..NN {
        let r = t.rq.apply(D::finish(acc[p]));
        store_i8(t.y.add((q + p - t.q0) * g.oc + t.oc_off), r, t.valid);
    }
}
