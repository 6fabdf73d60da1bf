//! The int8 depthwise convolution driver for hand-written micro-kernels (pairs of taps
//! through a 16-bit multiply-add: `vpdpwssd` on AVX-512 VNNI, `vpmaddwd` on AVX2, `smlal`
//! pairs on NEON), as [`super::conv_driver_i8`] is for the general convolution: the loops,
//! the padding and the weight tables are written here once; a set supplies a
//! [`MicroDwI8`] (load a pair's weights, one step over two taps of a block of channels,
//! requantize and store).
//!
//! Channels run in blocks of `LANES` (the lanes of one vector of i16); for each block, the
//! weights are copied once into a table of tap pairs (`[w(2p), w(2p+1)]` as two i16 in one
//! i32 lane, in the micro-kernel's lane order), then every output pixel runs all taps, two
//! at a time: interior pixels (all taps inside the input) `NP` at a time from a table of
//! tap offsets, border pixels one at a time with padded taps read from a buffer of zero
//! points. An odd last tap pairs with itself against a zero weight.
//!
//! Exactness: a padded tap reads `zx`, so `Σ_all x' w = Σ_inside x w + zx Σ_padded w`, and
//! with the block's bias started at `bias - zx Σ_all w` the accumulator is
//! `bias + Σ_inside (x - zx) w`, the reference's, mod 2^32 (all wrapping; each product of two
//! int8 values and each pair sum fits i32 exactly). Requantization is the set's own
//! (the rule of `kernels/mod.rs`).

// Pixel tiles are fixed-size arrays indexed by pixel on purpose (kept in registers).
#![allow(clippy::needless_range_loop)]

use crate::kernels::conv_tiles::interior;
use crate::kernels::depthwise::MAX_TAPS;
use crate::kernels::{ConvI8, Geom, QOut, WLayout};

/// Most channels per block any micro-kernel asks for.
pub(crate) const MAX_LANES: usize = 32;
/// Tap pairs of the largest kernel the table holds.
const MAX_PAIRS: usize = MAX_TAPS.div_ceil(2);
/// Interior pixels per tile.
const NP: usize = 4;

/// One architecture's depthwise micro-kernel.
///
/// # Safety
/// Implementations' methods may only be called where the CPU has their instructions, with
/// pointers valid for what each reads or writes (`step`: the block's `n` bytes at each input
/// pointer, as its load mask says; `store`: the block's `n` outputs).
pub(crate) trait MicroDwI8 {
    /// Channels per block (at most [`MAX_LANES`]).
    const LANES: usize;
    /// Accumulators of one pixel x one block.
    type Acc: Copy;
    /// One tap pair's weights of a block, loaded.
    type W: Copy;
    /// What [`MicroDwI8::step`] needs to load a block's `n` channels.
    type Ld: Copy;
    /// What [`MicroDwI8::store`] needs for a block (bias, multipliers, lanes).
    type Req: Copy;
    /// Where channel `j` of a block sits in a pair's weight row (`LANES` i32s): the lane
    /// order the step's interleave of two taps produces.
    fn order(j: usize) -> usize;
    /// Accumulators at zero.
    unsafe fn zero() -> Self::Acc;
    /// Loads a pair's weight row (`LANES` i32s at `p`, in [`MicroDwI8::order`]).
    unsafe fn load_w(p: *const i32) -> Self::W;
    /// The load mask of a block of `n` channels.
    unsafe fn ld(n: usize) -> Self::Ld;
    /// Adds taps `xa` and `xb` (each `n` int8 channels, per `ld`) times the pair `w`.
    unsafe fn step(acc: &mut Self::Acc, w: &Self::W, xa: *const i8, xb: *const i8, ld: Self::Ld);
    /// The store constants of a block of `n` channels (`bias` and `mult`: `LANES` values in
    /// channel order).
    unsafe fn req(bias: &[i32; MAX_LANES], mult: &[f32; MAX_LANES], n: usize, q: QOut) -> Self::Req;
    /// Requantizes `acc` (plus the bias) and stores the block's `n` outputs at `y`.
    unsafe fn store(acc: Self::Acc, r: &Self::Req, y: *mut i8);
}

/// int8 depthwise convolution of output rows `oy0..` into `y` with micro-kernel `K`.
///
/// # Safety
/// The CPU has `K`'s instructions and [`super::depthwise::takes_i8`] accepted the arguments
/// (slices cover every read and write, `zx` is an int8 value, at most [`MAX_TAPS`] taps).
#[inline(always)]
pub(crate) unsafe fn conv<K: MicroDwI8>(a: &ConvI8<'_>, oy0: usize, y: &mut [i8]) {
    let g = &a.g;
    let c = g.ic;
    let taps = g.kh * g.kw;
    let pairs = taps.div_ceil(2);
    let lay = WLayout::conv(a.packing, c, c, g.kh, g.kw, c, true);
    // The source of padded taps: `LANES` bytes of `zx`.
    let pad = [a.zx as i8; MAX_LANES];
    let rows = y.len() / (g.ow * c);
    let (iy_lo, iy_hi) = interior(g.ih, g.oh, g.kh, g.sh, g.dh, g.pt);
    let (ix_lo, ix_hi) = interior(g.iw, g.ow, g.kw, g.sw, g.dw, g.pl);
    // Interior pixels: tap `t`'s input offset from the pixel's first tap; an odd last tap's
    // partner is itself (its weight is zero).
    let mut toff = [0usize; 2 * MAX_PAIRS];
    for t in 0..taps {
        toff[t] = ((t / g.kw) * g.dh * g.iw + (t % g.kw) * g.dw) * c;
    }
    if taps % 2 == 1 {
        toff[taps] = toff[taps - 1];
    }
    let mut wt = [[0i32; MAX_LANES]; MAX_PAIRS];
    let mut c0 = 0;
    while c0 < c {
        let n = K::LANES.min(c - c0);
        let mut bias = [0i32; MAX_LANES];
        let mut mult = [0f32; MAX_LANES];
        let w = |j: usize, t: usize| if j < n && t < taps { a.w[lay.index(c0 + j, t, 0)] as i32 } else { 0 };
        for j in 0..n {
            let sw = (0..taps).fold(0i32, |s, t| s.wrapping_add(w(j, t)));
            bias[j] = a.bias[c0 + j].wrapping_sub(a.zx.wrapping_mul(sw));
            mult[j] = a.mult[c0 + j];
        }
        for (p, row) in wt[..pairs].iter_mut().enumerate() {
            for j in 0..K::LANES {
                row[K::order(j)] = ((w(j, 2 * p) as u16 as u32) | ((w(j, 2 * p + 1) as u16 as u32) << 16)) as i32;
            }
        }
        // SAFETY: `K`'s CPU features (# Safety).
        let (req, ld) = unsafe { (K::req(&bias, &mult, n, a.q), K::ld(n)) };
        let blk = Block { wt: &wt, pairs, ld, req: &req, c0 };
        for r in 0..rows {
            let oy = oy0 + r;
            // SAFETY: row `r` of `y` starts `r * ow * c` elements in (whole rows, # Safety).
            let yr = unsafe { y.as_mut_ptr().add(r * g.ow * c) };
            let (xa, xb) = if oy >= iy_lo && oy < iy_hi { (ix_lo, ix_hi) } else { (g.ow, g.ow) };
            for ox in (0..xa).chain(xb..g.ow) {
                // SAFETY: as this function; (oy, ox) is a pixel of the caller's rows.
                unsafe { border::<K>(g, a.x.as_ptr(), &pad, &blk, oy, ox, yr) };
            }
            let mut ox = xa;
            while ox < xb {
                // SAFETY: as this function; pixels `ox..` up to `xb` are interior.
                unsafe {
                    if ox + NP <= xb {
                        inner::<K, NP>(g, a.x.as_ptr(), &toff, &blk, oy, ox, yr);
                        ox += NP;
                    } else {
                        inner::<K, 1>(g, a.x.as_ptr(), &toff, &blk, oy, ox, yr);
                        ox += 1;
                    }
                }
            }
        }
        c0 += K::LANES;
    }
}

/// One block of channels: its pair table and store constants.
struct Block<'b, K: MicroDwI8> {
    wt: &'b [[i32; MAX_LANES]; MAX_PAIRS],
    pairs: usize,
    ld: K::Ld,
    req: &'b K::Req,
    c0: usize,
}

/// `NN` interior pixels `ox..` of row `oy` (every tap inside the input).
///
/// # Safety
/// As [`conv`]; the pixels are interior and of the caller's rows; `yr` is the output of row
/// `oy`.
#[inline(always)]
unsafe fn inner<K: MicroDwI8, const NN: usize>(g: &Geom, x: *const i8, toff: &[usize; 2 * MAX_PAIRS], b: &Block<'_, K>, oy: usize, ox: usize, yr: *mut i8) {
    let c = g.ic;
    let mut base = [x; NN];
    for (p, s) in base.iter_mut().enumerate() {
        // SAFETY: the pixel's first tap is inside the input (interior, # Safety).
        *s = unsafe { x.add(((oy * g.sh - g.pt) * g.iw + ((ox + p) * g.sw - g.pl)) * c + b.c0) };
    }
    // SAFETY: `K`'s CPU features (# Safety).
    let mut acc = [unsafe { K::zero() }; NN];
    for q in 0..b.pairs {
        // SAFETY: `q < pairs` rows of the table, `LANES` i32s each; every tap of an interior
        // pixel is inside the input, so `base[p] + toff[t]` plus the block's `n` channels is.
        unsafe {
            let w = K::load_w(b.wt[q].as_ptr());
            for p in 0..NN {
                K::step(&mut acc[p], &w, base[p].add(toff[2 * q]), base[p].add(toff[2 * q + 1]), b.ld);
            }
        }
    }
    for p in 0..NN {
        // SAFETY: pixel `ox + p` of row `oy` is in the caller's rows; its block's `n`
        // outputs start `(ox + p) * c + c0` elements into the row.
        unsafe { K::store(acc[p], b.req, yr.add((ox + p) * c + b.c0)) };
    }
}

/// One border pixel: taps in the padding read the zero-point buffer.
///
/// # Safety
/// As [`inner`], for any pixel of the caller's rows.
#[inline(always)]
unsafe fn border<K: MicroDwI8>(g: &Geom, x: *const i8, pad: &[i8; MAX_LANES], b: &Block<'_, K>, oy: usize, ox: usize, yr: *mut i8) {
    let taps = g.kh * g.kw;
    let src = |t: usize| {
        let t = t.min(taps - 1);
        let iy = (oy * g.sh + (t / g.kw) * g.dh).wrapping_sub(g.pt);
        let ix = (ox * g.sw + (t % g.kw) * g.dw).wrapping_sub(g.pl);
        if iy < g.ih && ix < g.iw {
            // SAFETY: the tap is inside the input, and so are its block's `n` channels.
            unsafe { x.add((iy * g.iw + ix) * g.ic + b.c0) }
        } else {
            pad.as_ptr()
        }
    };
    // SAFETY: `K`'s CPU features (# Safety).
    let mut acc = unsafe { K::zero() };
    for q in 0..b.pairs {
        // SAFETY: `q < pairs` rows of the table; each source is inside the input or the
        // `MAX_LANES` bytes of `pad` (an odd last tap's partner is the tap itself).
        unsafe { K::step(&mut acc, &K::load_w(b.wt[q].as_ptr()), src(2 * q), src(2 * q + 1), b.ld) };
    }
    // SAFETY: pixel (oy, ox) is in the caller's rows.
    unsafe { K::store(acc, b.req, yr.add(ox * g.ic + b.c0)) };
}
