//! AVX-512 VNNI int8 convolution on BLOCKED weights (`vpdpbusd`).
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes, 4 at a time, into 16 i32 lanes.
//! The input's int8 values become unsigned by flipping their sign bit (`x ^ 0x80 = x + 128`);
//! 4 input channels of one pixel are broadcast to all lanes and meet a 64-byte weight row
//! (16 output channels x 4 input channels). A micro-tile holds `N` output pixels x `M`
//! blocks of 16 channels in `N * M` accumulators for the whole reduction (all taps, all
//! input channels), then requantizes and stores them.
//!
//! Exactness: a tap that falls in the padding reads the input zero point `zx` (a buffer of
//! them), so every pixel runs all taps and
//! `acc = bias - (128 + zx) * Σw + Σ (x' + 128) * w = bias + Σ_inside (x - zx) * w`
//! with `x' = zx` on padded taps: the reference's accumulator, mod 2^32 (all wrapping).
//! `Σw` is summed per block once per call. Requantization is the rule of `kernels/mod.rs`:
//! `vcvtdq2ps`, `vmulps`, clamp with `vmaxps`/`vminps` (NaN-free: validated multipliers),
//! `vcvtps2dq` rounds half to even under the default MXCSR, exactly like the reference's
//! `1.5 * 2^23` trick for |v| < 2^22, then `+ zy` and a truncating `vpmovdb` of in-range values.

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::common::{block_wsum, conv_shape, lane_mask, lanes, CHUNK};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_conv2d_i8, ConvI8, Geom};

/// Output pixels per micro-tile.
const N: usize = 6;
/// Blocks of 16 output channels per micro-tile (N * M = 24 of the 32 zmm registers).
const M: usize = 4;

/// int8 convolution, AVX-512 VNNI. Falls back to the scalar reference for other packings.
pub(super) fn avx512vnni_conv2d_i8(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    match conv_shape(&a.g, a.packing, true, a.x.len(), a.w.len(), &[a.bias.len(), a.mult.len()], oy0, y.len()) {
        // SAFETY: this function is reachable only through the AVX512VNNI kernel set, which
        // `x86::avx512vnni()` hands out after checking the CPU's features; `conv_shape`
        // checked that the slices cover every read and write `conv` makes.
        Some(b) => unsafe { conv(a, &b, oy0, y) },
        None => scalar_conv2d_i8(a, oy0, y),
    }
}

/// What a micro-tile needs, fixed per (conv group, run of up to `M` output blocks).
struct Tile {
    x: *const i8,
    x_len: usize,
    /// `4 * CHUNK` bytes of `zx`: the source of padded taps.
    pad: *const i8,
    /// The input's last `4 * CHUNK` bytes (from `tail_base`) followed by as many zeros:
    /// where a pixel's last group of 4 channels ends past the input (channel counts that
    /// aren't a multiple of 4), its reads come from here.
    tail: *const i8,
    tail_base: usize,
    /// First weight of the run's first block.
    w: *const i8,
    block_len: usize,
    tap_len: usize,
    /// Packed groups of 4 input channels per tap.
    ng: usize,
    /// First input channel of the conv group.
    ic_off: usize,
    /// Output of pixel `q0` (the first of the caller's rows).
    y: *mut i8,
    q0: usize,
    /// First output channel of the run.
    oc_off: usize,
    init: [__m512i; M],
    mult: [__m512; M],
    mask: [u16; M],
    lo: __m512,
    hi: __m512,
    zy: __m512i,
}

/// # Safety
/// The CPU has AVX-512 F/BW/VL/VNNI, and `b` is `conv_shape`'s result for these arguments.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn conv(a: &ConvI8<'_>, b: &Blocked, oy0: usize, y: &mut [i8]) {
    let g = &a.g;
    let pad = [a.zx as i8; 4 * CHUNK];
    let mut tail = [0i8; 8 * CHUNK];
    let tail_base = a.x.len().saturating_sub(4 * CHUNK);
    tail[..a.x.len() - tail_base].copy_from_slice(&a.x[tail_base..]);
    let rows = y.len() / (g.ow * g.oc);
    let (q0, q1) = (oy0 * g.ow, (oy0 + rows) * g.ow);
    let ob_n = b.oc_blocks();
    let corr = 128i32.wrapping_add(a.zx);
    let mut t = Tile {
        x: a.x.as_ptr(),
        x_len: a.x.len(),
        pad: pad.as_ptr(),
        tail: tail.as_ptr(),
        tail_base,
        w: a.w.as_ptr(),
        block_len: b.block_len(),
        tap_len: b.tap_len(),
        ng: b.ic_groups(),
        ic_off: 0,
        y: y.as_mut_ptr(),
        q0,
        oc_off: 0,
        init: [_mm512_setzero_si512(); M],
        mult: [_mm512_setzero_ps(); M],
        mask: [0; M],
        lo: _mm512_set1_ps((a.q.lo - a.q.zy) as f32),
        hi: _mm512_set1_ps((a.q.hi - a.q.zy) as f32),
        zy: _mm512_set1_epi32(a.q.zy),
    };
    for gi in 0..g.groups {
        let mut ob = 0;
        while ob < ob_n {
            let mm = (ob_n - ob).min(M);
            let blk0 = gi * ob_n + ob;
            t.w = a.w.as_ptr().add(blk0 * t.block_len);
            t.ic_off = gi * b.icg;
            t.oc_off = gi * b.ocg + ob * OC_BLOCK;
            for m in 0..mm {
                let ws = block_wsum(&a.w[(blk0 + m) * t.block_len..][..t.block_len]);
                let (c0, valid) = (t.oc_off + m * OC_BLOCK, b.ocg - (ob + m) * OC_BLOCK);
                let bias = lanes(a.bias, c0, valid);
                let mut init = [0i32; OC_BLOCK];
                for l in 0..OC_BLOCK {
                    init[l] = bias[l].wrapping_sub(corr.wrapping_mul(ws[l]));
                }
                t.init[m] = _mm512_loadu_si512(init.as_ptr() as *const _);
                t.mult[m] = _mm512_loadu_ps(lanes(a.mult, c0, valid).as_ptr());
                t.mask[m] = lane_mask(valid);
            }
            match mm {
                4 => pixels::<4>(g, &t, q0, q1),
                3 => pixels::<3>(g, &t, q0, q1),
                2 => pixels::<2>(g, &t, q0, q1),
                _ => pixels::<1>(g, &t, q0, q1),
            }
            ob += mm;
        }
    }
}

/// Output pixels `q0..q1` for a run of `MM` blocks: full tiles of `N`, then the rest.
///
/// # Safety
/// As [`conv`]; `t` was filled by it.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn pixels<const MM: usize>(g: &Geom, t: &Tile, q0: usize, q1: usize) {
    let mut q = q0;
    while q + N <= q1 {
        micro::<MM, N>(g, t, q);
        q += N;
    }
    match q1 - q {
        0 => {}
        1 => micro::<MM, 1>(g, t, q),
        2 => micro::<MM, 2>(g, t, q),
        3 => micro::<MM, 3>(g, t, q),
        4 => micro::<MM, 4>(g, t, q),
        _ => micro::<MM, 5>(g, t, q),
    }
}

/// One micro-tile: output pixels `q..q + NN` (row-major over the output, so a tile may
/// wrap to the next row) x `MM` blocks of 16 channels.
///
/// # Safety
/// As [`conv`]; `q + NN` is within the caller's rows.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn micro<const MM: usize, const NN: usize>(g: &Geom, t: &Tile, q: usize) {
    let flip = _mm512_set1_epi32(0x8080_8080u32 as i32);
    let mut acc = [[_mm512_setzero_si512(); MM]; NN];
    for row in acc.iter_mut() {
        row.copy_from_slice(&t.init[..MM]);
    }
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
            // Input offset of each pixel's tap; usize::MAX where the tap is padding.
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
                        // The reads end past the input: they start within its last
                        // 4 * CHUNK bytes (4 * cn <= 4 * CHUNK), which `tail` mirrors, and
                        // end within the zeros after them. Bytes that aren't this pixel's
                        // channels meet the zero weights padding its last group (the
                        // validator checks the padding is zero).
                        src[p] = t.tail.add(s - t.tail_base);
                    }
                }
                let wc = wt.add(c * 64);
                for j in 0..cn {
                    let mut wv = [_mm512_setzero_si512(); MM];
                    for (m, w) in wv.iter_mut().enumerate() {
                        *w = _mm512_loadu_si512(wc.add(m * t.block_len + j * 64) as *const _);
                    }
                    for p in 0..NN {
                        let xv = (src[p].add(4 * j) as *const i32).read_unaligned();
                        let xb = _mm512_xor_si512(_mm512_set1_epi32(xv), flip);
                        for m in 0..MM {
                            acc[p][m] = _mm512_dpbusd_epi32(acc[p][m], xb, wv[m]);
                        }
                    }
                }
                c += cn;
            }
        }
    }
    for (p, row) in acc.iter().enumerate() {
        let yp = t.y.add((q + p - t.q0) * g.oc + t.oc_off);
        for m in 0..MM {
            let v = _mm512_mul_ps(_mm512_cvtepi32_ps(row[m]), t.mult[m]);
            let v = _mm512_min_ps(_mm512_max_ps(v, t.lo), t.hi);
            let r = _mm512_add_epi32(_mm512_cvtps_epi32(v), t.zy);
            _mm512_mask_cvtepi32_storeu_epi8(yp.add(m * OC_BLOCK) as *mut _, t.mask[m], r);
        }
    }
}
