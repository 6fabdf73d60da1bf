//! AVX2 int8 convolution on BLOCKED weights (`vpmaddwd`), for x86 CPUs without VNNI.
//!
//! `vpmaddubsw` would saturate (255 * 127 * 2 > 32767), so inputs and weights are widened
//! to i16 and multiplied with `vpmaddwd`, which is exact: 4 input channels of a pixel are
//! broadcast (`vpbroadcastd` + `vpmovsxbw`) against half a weight row (8 output channels x
//! 4 input channels as i16, two registers), each i32 lane summing 2 products; lane pairs
//! are added at the end (`vphaddd`). A micro-tile holds `N` pixels x 8 channels.
//!
//! Exactness: padded taps read the input zero point `zx`, so
//! `acc = bias - zx * Σw + Σ x' * w = bias + Σ_inside (x - zx) * w`, the reference's
//! accumulator mod 2^32; requantization follows the rule of `kernels/mod.rs` (`vcvtps2dq`
//! rounds half to even under the default MXCSR).

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::common::{block_wsum, conv_shape, lanes, CHUNK};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_conv2d_i8, ConvI8, Geom};

/// Output pixels per micro-tile (2 accumulators each; 12 of the 16 ymm registers).
const N: usize = 6;

/// int8 convolution, AVX2. Falls back to the scalar reference for other packings.
pub(super) fn avx2_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    match conv_shape(&a.g, a.packing, true, a.x.len(), a.w.len(), &[a.bias.len(), a.mult.len()], oy0, y.len()) {
        // SAFETY: this function is reachable only through the AVX2 and AVX512VNNI kernel
        // sets, handed out after checking the CPU has AVX2; `conv_shape` checked that the
        // slices cover every read and write `conv` makes.
        Some(b) => unsafe { conv(a, &b, oy0, y) },
        None => scalar_conv2d_i8(a, oy0, y),
    }
}

/// What a micro-tile needs, fixed per half block of 8 output channels.
struct Tile {
    x: *const i8,
    x_len: usize,
    /// `4 * CHUNK` bytes of `zx`: the source of padded taps.
    pad: *const i8,
    /// The input's last `4 * CHUNK` bytes (from `tail_base`) followed by as many zeros
    /// (see the VNNI kernel).
    tail: *const i8,
    tail_base: usize,
    /// Weights of the block, offset to the half (`+32` bytes for channels 8..16).
    w: *const i8,
    tap_len: usize,
    ng: usize,
    ic_off: usize,
    y: *mut i8,
    q0: usize,
    oc_off: usize,
    /// Real channels in this half (1..=8).
    valid: usize,
    init: __m256i,
    mult: __m256,
    lo: __m256,
    hi: __m256,
    zy: __m256i,
}

/// # Safety
/// The CPU has AVX2, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma")]
unsafe fn conv(a: &ConvI8<'_>, b: &Blocked, oy0: usize, y: &mut [i8]) {
    let g = &a.g;
    let pad = [a.zx as i8; 4 * CHUNK];
    let mut tail = [0i8; 8 * CHUNK];
    let tail_base = a.x.len().saturating_sub(4 * CHUNK);
    tail[..a.x.len() - tail_base].copy_from_slice(&a.x[tail_base..]);
    let rows = y.len() / (g.ow * g.oc);
    let (q0, q1) = (oy0 * g.ow, (oy0 + rows) * g.ow);
    let ob_n = b.oc_blocks();
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
        init: _mm256_setzero_si256(),
        mult: _mm256_setzero_ps(),
        lo: _mm256_set1_ps((a.q.lo - a.q.zy) as f32),
        hi: _mm256_set1_ps((a.q.hi - a.q.zy) as f32),
        zy: _mm256_set1_epi32(a.q.zy),
    };
    for gi in 0..g.groups {
        for ob in 0..ob_n {
            let blk = gi * ob_n + ob;
            let ws = block_wsum(&a.w[blk * b.block_len()..][..b.block_len()]);
            let c0 = gi * b.ocg + ob * OC_BLOCK;
            let valid16 = (b.ocg - ob * OC_BLOCK).min(OC_BLOCK);
            let bias = lanes(a.bias, c0, valid16);
            let mult = lanes(a.mult, c0, valid16);
            let mut init = [0i32; OC_BLOCK];
            for l in 0..OC_BLOCK {
                init[l] = bias[l].wrapping_sub(a.zx.wrapping_mul(ws[l]));
            }
            t.ic_off = gi * b.icg;
            for h in 0..2 {
                if h * 8 >= valid16 {
                    break;
                }
                t.w = a.w.as_ptr().add(blk * b.block_len() + h * 32);
                t.oc_off = c0 + h * 8;
                t.valid = (valid16 - h * 8).min(8);
                t.init = _mm256_loadu_si256(init[h * 8..].as_ptr() as *const _);
                t.mult = _mm256_loadu_ps(mult[h * 8..].as_ptr());
                let mut q = q0;
                while q + N <= q1 {
                    micro::<N>(g, &t, q);
                    q += N;
                }
                match q1 - q {
                    0 => {}
                    1 => micro::<1>(g, &t, q),
                    2 => micro::<2>(g, &t, q),
                    3 => micro::<3>(g, &t, q),
                    4 => micro::<4>(g, &t, q),
                    _ => micro::<5>(g, &t, q),
                }
            }
        }
    }
}

/// Output pixels `q..q + NN` x the tile's 8 channels.
///
/// # Safety
/// As [`conv`]; `t` was filled by it and `q + NN` is within the caller's rows.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro<const NN: usize>(g: &Geom, t: &Tile, q: usize) {
    let mut acc = [[_mm256_setzero_si256(); 2]; NN];
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
                        // Reads past the input come from its mirrored tail (see the VNNI
                        // kernel); bytes that aren't this pixel's channels meet zero weights.
                        src[p] = t.tail.add(s - t.tail_base);
                    }
                }
                let wc = wt.add(c * 64);
                for j in 0..cn {
                    let w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(wc.add(j * 64) as *const _));
                    let w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(wc.add(j * 64 + 16) as *const _));
                    for p in 0..NN {
                        let xv = (src[p].add(4 * j) as *const i32).read_unaligned();
                        let xb = _mm256_cvtepi8_epi16(_mm_set1_epi32(xv));
                        acc[p][0] = _mm256_add_epi32(acc[p][0], _mm256_madd_epi16(xb, w0));
                        acc[p][1] = _mm256_add_epi32(acc[p][1], _mm256_madd_epi16(xb, w1));
                    }
                }
                c += cn;
            }
        }
    }
    for (p, pair) in acc.iter().enumerate() {
        // Lanes hold (channel, half-sum) pairs: add them and restore channel order.
        let s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(pair[0], pair[1]), 0b11_01_10_00);
        let s = _mm256_add_epi32(s, t.init);
        let v = _mm256_mul_ps(_mm256_cvtepi32_ps(s), t.mult);
        let v = _mm256_min_ps(_mm256_max_ps(v, t.lo), t.hi);
        let r = _mm256_add_epi32(_mm256_cvtps_epi32(v), t.zy);
        let r16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        let r8 = _mm_packs_epi16(r16, r16);
        let yp = t.y.add((q + p - t.q0) * g.oc + t.oc_off);
        if t.valid == 8 {
            _mm_storel_epi64(yp as *mut _, r8);
        } else {
            let mut tmp = [0i8; 16];
            _mm_storeu_si128(tmp.as_mut_ptr() as *mut _, r8);
            core::ptr::copy_nonoverlapping(tmp.as_ptr(), yp, t.valid);
        }
    }
}
