//! AVX-512 VNNI int8 convolution on BLOCKED weights (`vpdpbusd`).
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes, 4 at a time, into 16 i32 lanes.
//! The input's int8 values become unsigned by flipping their sign bit (`x ^ 0x80 = x + 128`);
//! 4 input channels of one pixel are broadcast to all lanes and meet a 64-byte weight row
//! (16 output channels x 4 input channels). A micro-tile holds `N` output pixels x `M`
//! blocks of 16 channels in `N * M` accumulators for the whole reduction (all taps, all
//! input channels), then requantizes and stores them.
//!
//! Pixels whose taps all fall inside the input (the interior, nearly all of a large map)
//! run one flat loop over (tap, channel group) with a per-layer table of input offsets:
//! no per-tap set-up, no branches; with few input channels, over (kernel row, group of 4
//! bytes of that row) on a row-merged copy of the weights. Border pixels (and the rare tile whose last group of 4
//! would read past the input) are gathered `N` at a time, in any order, and run tap by tap
//! with padded taps pointed at a buffer of zero points.
//!
//! Exactness: a tap that falls in the padding reads the input zero point `zx` (a buffer of
//! them), so every pixel runs all taps and
//! `acc = bias - (128 + zx) * Σw + Σ (x' + 128) * w = bias + Σ_inside (x - zx) * w`
//! with `x' = zx` on padded taps: the reference's accumulator, mod 2^32 (all wrapping).
//! `Σw` is summed per block once per call (`vpdpbusd` against all-ones bytes).
//! Requantization is the rule of `kernels/mod.rs`:
//! `vcvtdq2ps`, `vmulps`, clamp with `vmaxps`/`vminps` (NaN-free: validated multipliers),
//! `vcvtps2dq` rounds half to even under the default MXCSR, exactly like the reference's
//! `1.5 * 2^23` trick for |v| < 2^22, then `+ zy` and a truncating `vpmovdb` of in-range values.

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::common::{conv_shape, lane_mask, lanes, CHUNK};
use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::{scalar_conv2d_i8, ConvI8, Geom};

/// Output pixels per micro-tile.
const N: usize = 6;
/// Blocks of 16 output channels per micro-tile (N * M = 24 of the 32 zmm registers).
const M: usize = 4;
/// Most (tap, group) steps the interior path's offset table holds (16 KiB of stack).
const MAX_STEPS: usize = 4096;

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
    /// Interior path: input offset of step `k` from the pixel's first tap, for `steps`
    /// steps; `steps == 0` disables the interior path. A step is a (tap, group of 4
    /// channels), or, for row-merged weights, a (kernel row, group of 4 bytes of that row).
    table: *const u32,
    steps: usize,
    /// Interior path weights (the run's first block) and their block length: the BLOCKED
    /// weights, or a row-merged copy of them (see [`merge_rows`]).
    fw: *const i8,
    fblock_len: usize,
    /// First weight of the run's first block.
    w: *const i8,
    block_len: usize,
    tap_len: usize,
    /// Packed groups of 4 input channels per tap.
    ng: usize,
    /// First input channel of the conv group.
    ic_off: usize,
    /// Output of the caller's first row.
    y: *mut i8,
    oy0: usize,
    /// First output channel of the run.
    oc_off: usize,
    init: [__m512i; M],
    mult: [__m512; M],
    mask: [u16; M],
    lo: __m512,
    hi: __m512,
    zy: __m512i,
}

/// Bytes of stack for row-merged weights.
const MERGED_BYTES: usize = 8192;

/// Row merging, for convolutions with few input channels (the first layer of a network):
/// the `kw * ic` bytes of one kernel row of a pixel are contiguous in NHWC, so an interior
/// pixel can read them as `ceil(kw * ic / 4)` groups of 4 instead of `kw * ceil(ic / 4)`
/// (an MNIST 3x3 conv on 1 channel: 3 steps instead of 9). Copies the weights in that order
/// into `out` (zero padded) and returns the groups per row, or 0 where merging doesn't
/// apply or doesn't pay. Border pixels keep using the BLOCKED weights.
fn merge_rows(a: &ConvI8<'_>, b: &Blocked, out: &mut [MaybeUninit<i8>; MERGED_BYTES]) -> usize {
    let g = &a.g;
    let row = g.kw * g.ic;
    let mg = row.div_ceil(4);
    let blocks = b.oc_blocks();
    if g.groups != 1 || g.dw != 1 || g.kw < 2 || mg >= g.kw * b.ic_groups() || blocks * g.kh * mg * 64 > MERGED_BYTES {
        return 0;
    }
    let len = blocks * g.kh * mg * 64;
    for v in out[..len].iter_mut() {
        v.write(0);
    }
    // Same lane, same weight: tap (ky, kx) channel ci moves from group ci / 4 of its tap to
    // group (kx * ic + ci) / 4 of its kernel row. Padded output lanes copy along (they are
    // masked on store).
    for ob in 0..blocks {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                for ci in 0..g.ic {
                    let src = (ob * g.kh * g.kw + ky * g.kw + kx) * b.tap_len() + (ci / 4) * 64 + ci % 4;
                    let c = kx * g.ic + ci;
                    let dst = ((ob * g.kh + ky) * mg + c / 4) * 64 + c % 4;
                    for l in 0..OC_BLOCK {
                        out[dst + 4 * l].write(a.w[src + 4 * l]);
                    }
                }
            }
        }
    }
    mg
}

/// Output range `lo..hi` along one axis whose taps all fall inside an input of `n`.
fn interior(n: usize, out: usize, k: usize, s: usize, d: usize, pad: usize) -> (usize, usize) {
    let lo = pad.div_ceil(s).min(out);
    let ext = (k - 1) * d + 1;
    let hi = if n + pad < ext { 0 } else { (n + pad + 1 - ext).div_ceil(s).min(out) };
    (lo, hi.max(lo))
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
    let ng = b.ic_groups();
    // The interior path's offsets: tap (ky, kx), group j -> (ky*dh*iw + kx*dw)*ic + 4j.
    let mut table = [MaybeUninit::<u32>::uninit(); MAX_STEPS];
    let mut merged = [MaybeUninit::<i8>::uninit(); MERGED_BYTES];
    let mg = merge_rows(a, b, &mut merged);
    let steps = if mg > 0 { g.kh * mg } else { g.kh * g.kw * ng };
    let last = ((g.kh - 1) * g.dh * g.iw + (g.kw - 1) * g.dw) * g.ic + 4 * ng;
    let steps = if steps <= MAX_STEPS && last < u32::MAX as usize { steps } else { 0 };
    for k in 0..steps {
        let off = if mg > 0 {
            (k / mg) * g.dh * g.iw * g.ic + 4 * (k % mg)
        } else {
            let (tap, j) = (k / ng, k % ng);
            let (ky, kx) = (tap / g.kw, tap % g.kw);
            (ky * g.dh * g.iw + kx * g.dw) * g.ic + 4 * j
        };
        table[k].write(off as u32);
    }
    let ob_n = b.oc_blocks();
    let corr = _mm512_set1_epi32(128i32.wrapping_add(a.zx));
    let ones = _mm512_set1_epi8(1);
    let mut t = Tile {
        x: a.x.as_ptr(),
        x_len: a.x.len(),
        pad: pad.as_ptr(),
        tail: tail.as_ptr(),
        tail_base,
        table: table.as_ptr() as *const u32,
        steps,
        fw: a.w.as_ptr(),
        fblock_len: if mg > 0 { g.kh * mg * 64 } else { b.block_len() },
        w: a.w.as_ptr(),
        block_len: b.block_len(),
        tap_len: b.tap_len(),
        ng,
        ic_off: 0,
        y: y.as_mut_ptr(),
        oy0,
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
            t.fw = if mg > 0 { (merged.as_ptr() as *const i8).add(blk0 * t.fblock_len) } else { t.w };
            t.ic_off = gi * b.icg;
            t.oc_off = gi * b.ocg + ob * OC_BLOCK;
            for m in 0..mm {
                // Per-channel weight sums: one `vpdpbusd` against all-ones bytes per row.
                let mut ws = _mm512_setzero_si512();
                let wb = t.w.add(m * t.block_len);
                for r in 0..t.block_len / 64 {
                    ws = _mm512_dpbusd_epi32(ws, ones, _mm512_loadu_si512(wb.add(r * 64) as *const _));
                }
                let (c0, valid) = (t.oc_off + m * OC_BLOCK, b.ocg - (ob + m) * OC_BLOCK);
                let bias = _mm512_loadu_si512(lanes(a.bias, c0, valid).as_ptr() as *const _);
                t.init[m] = _mm512_sub_epi32(bias, _mm512_mullo_epi32(corr, ws));
                t.mult[m] = _mm512_loadu_ps(lanes(a.mult, c0, valid).as_ptr());
                t.mask[m] = lane_mask(valid);
            }
            match mm {
                4 => rows_of::<4>(g, &t, oy0, oy0 + rows),
                3 => rows_of::<3>(g, &t, oy0, oy0 + rows),
                2 => rows_of::<2>(g, &t, oy0, oy0 + rows),
                _ => rows_of::<1>(g, &t, oy0, oy0 + rows),
            }
            ob += mm;
        }
    }
}

/// Output rows `r0..r1` for a run of `MM` blocks: interior pixels in tiles along each row,
/// border pixels gathered into tiles of `N`.
///
/// # Safety
/// As [`conv`]; `t` was filled by it.
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn rows_of<const MM: usize>(g: &Geom, t: &Tile, r0: usize, r1: usize) {
    let (iy_lo, iy_hi) = interior(g.ih, g.oh, g.kh, g.sh, g.dh, g.pt);
    let (ix_lo, ix_hi) = if t.steps > 0 { interior(g.iw, g.ow, g.kw, g.sw, g.dw, g.pl) } else { (0, 0) };
    let last_step = if t.steps > 0 { *t.table.add(t.steps - 1) as usize + 4 } else { 0 };
    let mut border = Border::<MM> { px: [(0, 0); N], n: 0 };
    for oy in r0..r1 {
        let inner = oy >= iy_lo && oy < iy_hi && ix_hi > ix_lo;
        let (a, b) = if inner { (ix_lo, ix_hi) } else { (g.ow, g.ow) };
        for ox in (0..a).chain(b..g.ow) {
            border.push(g, t, oy, ox);
        }
        if a >= b {
            continue;
        }
        // Interior run a..b: the tile's last read must stay inside the input.
        let first = ((oy * g.sh - g.pt) * g.iw + (a * g.sw - g.pl)) * g.ic + t.ic_off;
        let stride = g.sw * g.ic;
        let fits = |n: usize| first + (n - 1) * stride + last_step <= t.x_len;
        let mut ox = a;
        while ox < b {
            let r = b - ox;
            let n = if r >= N { N } else if r >= 4 { 4 } else if r >= 2 { 2 } else { 1 };
            if !fits(ox - a + n) {
                for p in ox..b {
                    border.push(g, t, oy, p);
                }
                break;
            }
            match n {
                N => fast::<MM, N>(g, t, oy, ox),
                4 => fast::<MM, 4>(g, t, oy, ox),
                2 => fast::<MM, 2>(g, t, oy, ox),
                _ => fast::<MM, 1>(g, t, oy, ox),
            }
            ox += n;
        }
    }
    border.flush(g, t);
}

/// Border pixels waiting for a tile.
struct Border<const MM: usize> {
    px: [(usize, usize); N],
    n: usize,
}

impl<const MM: usize> Border<MM> {
    /// # Safety
    /// As [`conv`].
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn push(&mut self, g: &Geom, t: &Tile, oy: usize, ox: usize) {
        self.px[self.n] = (oy, ox);
        self.n += 1;
        if self.n == N {
            general::<MM, N>(g, t, &self.px);
            self.n = 0;
        }
    }

    /// # Safety
    /// As [`conv`].
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn flush(&mut self, g: &Geom, t: &Tile) {
        let mut i = 0;
        while i < self.n {
            let r = self.n - i;
            let px = &self.px[i..];
            i += if r >= 4 {
                general::<MM, 4>(g, t, &*(px.as_ptr() as *const [(usize, usize); 4]));
                4
            } else if r >= 2 {
                general::<MM, 2>(g, t, &*(px.as_ptr() as *const [(usize, usize); 2]));
                2
            } else {
                general::<MM, 1>(g, t, &*(px.as_ptr() as *const [(usize, usize); 1]));
                1
            };
        }
        self.n = 0;
    }
}

/// The accumulators' starting values (bias and zero-point correction).
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
fn start<const MM: usize, const NN: usize>(t: &Tile) -> [[__m512i; MM]; NN] {
    let mut acc = [[_mm512_setzero_si512(); MM]; NN];
    for row in acc.iter_mut() {
        row.copy_from_slice(&t.init[..MM]);
    }
    acc
}

/// Requantize one pixel's `MM` blocks and store them at `yp`.
///
/// # Safety
/// As [`conv`]; `yp` is the pixel's output at the run's first channel.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn store<const MM: usize>(t: &Tile, acc: &[__m512i; MM], yp: *mut i8) {
    for m in 0..MM {
        let v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[m]), t.mult[m]);
        let v = _mm512_min_ps(_mm512_max_ps(v, t.lo), t.hi);
        let r = _mm512_add_epi32(_mm512_cvtps_epi32(v), t.zy);
        _mm512_mask_cvtepi32_storeu_epi8(yp.add(m * OC_BLOCK) as *mut _, t.mask[m], r);
    }
}

/// One (tap, group) step of an interior tile: input at `src[p] + o`, weight row `k`.
///
/// # Safety
/// As [`fast`].
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn step<const MM: usize, const NN: usize>(t: &Tile, src: &[*const i8; NN], o: usize, k: usize, acc: &mut [[__m512i; MM]; NN]) {
    let flip = _mm512_set1_epi32(0x8080_8080u32 as i32);
    let mut wv = [_mm512_setzero_si512(); MM];
    for (m, w) in wv.iter_mut().enumerate() {
        *w = _mm512_loadu_si512(t.fw.add(m * t.fblock_len + k * 64) as *const _);
    }
    for p in 0..NN {
        let xv = (src[p].add(o) as *const i32).read_unaligned();
        let xb = _mm512_xor_si512(_mm512_set1_epi32(xv), flip);
        for m in 0..MM {
            acc[p][m] = _mm512_dpbusd_epi32(acc[p][m], xb, wv[m]);
        }
    }
}

/// Interior tile: pixels (oy, ox..ox + NN), every tap inside the input and the tile's
/// last read inside it too (checked by the caller); one flat loop over (tap, group).
/// Narrow tiles (`MM * NN <= 12`) alternate two sets of accumulators so that enough
/// independent `vpdpbusd` chains hide its latency; the sets are added at the end (exact:
/// wrapping i32 sums in any order).
///
/// # Safety
/// As [`conv`], plus those conditions.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn fast<const MM: usize, const NN: usize>(g: &Geom, t: &Tile, oy: usize, ox: usize) {
    let mut acc = start::<MM, NN>(t);
    let first = ((oy * g.sh - g.pt) * g.iw + (ox * g.sw - g.pl)) * g.ic + t.ic_off;
    let mut src = [t.x; NN];
    for (p, s) in src.iter_mut().enumerate() {
        *s = t.x.add(first + p * g.sw * g.ic);
    }
    let mut k = 0;
    if MM * NN <= 12 {
        let mut odd = [[_mm512_setzero_si512(); MM]; NN];
        while k + 2 <= t.steps {
            step::<MM, NN>(t, &src, *t.table.add(k) as usize, k, &mut acc);
            step::<MM, NN>(t, &src, *t.table.add(k + 1) as usize, k + 1, &mut odd);
            k += 2;
        }
        for p in 0..NN {
            for m in 0..MM {
                acc[p][m] = _mm512_add_epi32(acc[p][m], odd[p][m]);
            }
        }
    }
    while k < t.steps {
        step::<MM, NN>(t, &src, *t.table.add(k) as usize, k, &mut acc);
        k += 1;
    }
    let y0 = t.y.add(((oy - t.oy0) * g.ow + ox) * g.oc + t.oc_off);
    for (p, a) in acc.iter().enumerate() {
        store::<MM>(t, a, y0.add(p * g.oc));
    }
}

/// General tile: any `NN` output pixels, tap by tap; padded taps read the zero-point buffer.
///
/// # Safety
/// As [`conv`]; every pixel is within the caller's rows.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn general<const MM: usize, const NN: usize>(g: &Geom, t: &Tile, px: &[(usize, usize); NN]) {
    let flip = _mm512_set1_epi32(0x8080_8080u32 as i32);
    let mut acc = start::<MM, NN>(t);
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            // Input offset of each pixel's tap; usize::MAX where the tap is padding.
            let mut off = [usize::MAX; NN];
            for (p, &(oy, ox)) in px.iter().enumerate() {
                let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
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
    for (p, &(oy, ox)) in px.iter().enumerate() {
        store::<MM>(t, &acc[p], t.y.add(((oy - t.oy0) * g.ow + ox) * g.oc + t.oc_off));
    }
}
