//! The f32 convolution tile driver every SIMD set shares: loops, padding and the
//! interior/border split written once; a kernel set supplies a micro-kernel ([`MicroF32`]:
//! load a weight row, broadcast an input, fused multiply-add, activation and store) and a
//! `#[target_feature]` entry that instantiates [`conv`] with it (everything here is
//! `#[inline(always)]`, so it is compiled inside that entry, with its features).
//!
//! BLOCKED f32 weights are `[g][oc/16][kh][kw][icg][16]`: one input channel of a pixel is
//! broadcast against 16 output channels' weights. A micro-tile keeps `NN` pixels x `MM`
//! blocks of 16 channels in registers, initialized with the bias. Interior pixels (every
//! tap inside the input) run tap by tap from fixed pointers; border pixels are gathered `N`
//! at a time and their padded taps read zeros. Within the error budget of
//! `kernels/tests.rs` (fused multiply-add, bias first, per-tap order).

// Register tiles are indexed by block and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use crate::format::packing::{Blocked, BLOCKED, OC_BLOCK};
use crate::kernels::conv_tiles::{interior, tap_offsets, tile_len};
use crate::kernels::simd_args::{conv_shape, lanes, CHUNK};
use crate::kernels::{scalar_conv2d_f32, ConvF32, Geom};
use crate::ops::Activation;

/// One architecture's f32 micro-kernel: what the driver needs to run a tile.
///
/// # Safety
/// Implementations' methods may only be called where the CPU has their instructions (the
/// driver is instantiated from a `#[target_feature]` entry of the kernel set), and with
/// pointers valid for what each method reads or writes (`load_w`: 16 weights; `bcast`: one
/// value; `store`: the block's `valid` outputs).
pub(crate) trait MicroF32 {
    /// Accumulators of one pixel x 16 output channels.
    type Acc: Copy;
    /// One weight row (16 output channels of one input channel), loaded.
    type W: Copy;
    /// One input value, broadcast.
    type X: Copy;
    /// What [`MicroF32::store`] needs for one block (bias, activation, lanes).
    type Req: Copy;
    /// Most pixels per tile: 1, 2, 4 or 6.
    const N: usize;
    /// Most blocks of 16 channels per tile: 1..=4.
    const M: usize;
    /// Blocks per pass of the dense driver (`dense_driver_f32.rs`): 1..=4.
    const DENSE_M: usize;
    /// The bias of the block, to start the accumulators with.
    unsafe fn init(r: &Self::Req) -> Self::Acc;
    /// The 16 weights at `p`.
    unsafe fn load_w(p: *const f32) -> Self::W;
    /// Broadcast the input at `p`.
    unsafe fn bcast(p: *const f32) -> Self::X;
    /// `acc += x * w`, fused.
    unsafe fn step(acc: &mut Self::Acc, w: &Self::W, x: Self::X);
    /// The store constants of a block: its 16 biases, `valid` real channels, activation.
    unsafe fn req(bias: &[f32; OC_BLOCK], valid: usize, act: Activation) -> Self::Req;
    /// Apply the activation and store the `valid` channels at `y`.
    unsafe fn store(acc: Self::Acc, r: &Self::Req, y: *mut f32);
    /// [`rows_of`] compiled with the set's features: `#[target_feature(enable = ..)]` and a
    /// body of `rows_of::<Self, MM>(g, t, r0, r1)`, `#[inline(never)]` (one function per tile
    /// width).
    unsafe fn rows<const MM: usize>(g: &Geom, t: &Tile<Self>, r0: usize, r1: usize)
    where
        Self: Sized;
}

/// Most blocks per tile any micro-kernel asks for.
const MAX_M: usize = 4;

/// A set's `#[target_feature]` instantiation of [`conv`].
pub(crate) type Tiles = unsafe fn(&ConvF32<'_>, &Blocked, usize, &mut [f32], &mut [u8]);

/// Scratch bytes [`conv`] needs: the zero buffer of padded taps (`CHUNK` f32s, aligned).
const SCRATCH: usize = 3 + 4 * CHUNK;

/// Scratch bytes [`conv`] needs for a convolution of geometry `g` (0 where the driver
/// doesn't run: the kernel calls the scalar reference, which needs none).
pub(crate) fn scratch_bytes(g: &Geom) -> usize {
    conv_shape(g, BLOCKED, false, usize::MAX, usize::MAX, &[], 0, 0).map_or(0, |_| SCRATCH)
}

/// The kernel entry's body: checks the arguments ([`conv_shape`]) and the scratch and runs
/// `tiles`, or the scalar reference where a check fails or the packing isn't BLOCKED.
///
/// # Safety
/// The CPU has the features `tiles` is compiled with.
pub(crate) unsafe fn blocked_or_scalar(a: &ConvF32<'_>, oy0: usize, y: &mut [f32], scratch: &mut [u8], tiles: Tiles) {
    match conv_shape(&a.g, a.packing, false, a.x.len(), a.w.len(), &[a.bias.len()], oy0, y.len()) {
        // SAFETY: the caller vouches for the CPU; `conv_shape` checked that the slices
        // cover every read and write the driver makes, and the scratch is long enough.
        Some(b) if scratch.len() >= SCRATCH => unsafe { tiles(a, &b, oy0, y, scratch) },
        _ => scalar_conv2d_f32(a, oy0, y),
    }
}

/// What a micro-tile needs, fixed per (conv group, run of up to `M` blocks).
pub(crate) struct Tile<K: MicroF32> {
    x: *const f32,
    /// `CHUNK` zeros: the source of padded taps.
    pad: *const f32,
    /// Weights of the run's first block.
    w: *const f32,
    block_len: usize,
    tap_len: usize,
    icg: usize,
    ic_off: usize,
    y: *mut f32,
    oy0: usize,
    oc_off: usize,
    req: [K::Req; MAX_M],
}

/// The convolution of BLOCKED f32 weights with micro-kernel `K`.
///
/// # Safety
/// The CPU has `K`'s instructions, `b` is `conv_shape`'s result for these arguments and
/// `scratch` holds at least [`scratch_bytes`] bytes.
#[inline(always)]
pub(crate) unsafe fn conv<K: MicroF32>(a: &ConvF32<'_>, b: &Blocked, oy0: usize, y: &mut [f32], scratch: &mut [u8]) {
    let g = &a.g;
    let skip = (4 - scratch.as_ptr() as usize % 4) % 4;
    let pad = &mut scratch[skip..skip + 4 * CHUNK];
    pad.fill(0); // all-zero bytes are 0.0f32
    let rows = y.len() / (g.ow * g.oc);
    let ob_n = b.oc_blocks();
    // SAFETY: the caller guarantees `K`'s CPU features (# Safety).
    let zero_req = unsafe { K::req(&[0.0; OC_BLOCK], 0, a.act) };
    let mut t = Tile::<K> {
        x: a.x.as_ptr(),
        pad: pad.as_ptr() as *const f32,
        w: a.w.as_ptr(),
        block_len: b.block_len(),
        tap_len: b.tap_len(),
        icg: b.icg,
        ic_off: 0,
        y: y.as_mut_ptr(),
        oy0,
        oc_off: 0,
        req: [zero_req; MAX_M],
    };
    for gi in 0..g.groups {
        let mut ob = 0;
        while ob < ob_n {
            let mm = (ob_n - ob).min(K::M).min(MAX_M);
            // SAFETY: block `gi * ob_n + ob` of the BLOCKED weights, whose length `conv_shape`
            // checked (`b` is its result, # Safety).
            t.w = unsafe { a.w.as_ptr().add((gi * ob_n + ob) * t.block_len) };
            t.ic_off = gi * b.icg;
            t.oc_off = gi * b.ocg + ob * OC_BLOCK;
            for m in 0..mm {
                let (c0, valid) = (t.oc_off + m * OC_BLOCK, (b.ocg - (ob + m) * OC_BLOCK).min(OC_BLOCK));
                // SAFETY: `K`'s CPU features (caller).
                t.req[m] = unsafe { K::req(&lanes(a.bias, c0, valid), valid, a.act) };
            }
            // SAFETY: this function's # Safety is `rows`'s; `t` is filled for `mm` blocks and
            // the rows `oy0..oy0 + rows` are the ones `y` holds.
            unsafe {
                match mm {
                    4 => K::rows::<4>(g, &t, oy0, oy0 + rows),
                    3 => K::rows::<3>(g, &t, oy0, oy0 + rows),
                    2 => K::rows::<2>(g, &t, oy0, oy0 + rows),
                    _ => K::rows::<1>(g, &t, oy0, oy0 + rows),
                }
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
#[inline(always)]
pub(crate) unsafe fn rows_of<K: MicroF32, const MM: usize>(g: &Geom, t: &Tile<K>, r0: usize, r1: usize) {
    let (iy_lo, iy_hi) = interior(g.ih, g.oh, g.kh, g.sh, g.dh, g.pt);
    let (ix_lo, ix_hi) = interior(g.iw, g.ow, g.kw, g.sw, g.dw, g.pl);
    let mut border = [(0usize, 0usize); 6];
    let mut nb = 0;
    for oy in r0..r1 {
        let inner = oy >= iy_lo && oy < iy_hi && ix_hi > ix_lo;
        let (a, b) = if inner { (ix_lo, ix_hi) } else { (g.ow, g.ow) };
        for ox in (0..a).chain(b..g.ow) {
            border[nb] = (oy, ox);
            nb += 1;
            if nb == K::N {
                // SAFETY: as this function (# Safety); the pixels are of the caller's rows.
                unsafe { flush::<K, MM>(g, t, &border[..nb]) };
                nb = 0;
            }
        }
        let mut ox = a;
        while ox < b {
            let n = tile_len(K::N, b - ox);
            // SAFETY: as this function; pixels ox..ox + n < b are interior (every tap inside
            // the input), `fast`'s condition.
            unsafe {
                match n {
                    6 => fast::<K, MM, 6>(g, t, oy, ox),
                    4 => fast::<K, MM, 4>(g, t, oy, ox),
                    2 => fast::<K, MM, 2>(g, t, oy, ox),
                    _ => fast::<K, MM, 1>(g, t, oy, ox),
                }
            }
            ox += n;
        }
    }
    // SAFETY: as this function; the pixels left are of the caller's rows.
    unsafe { flush::<K, MM>(g, t, &border[..nb]) };
}

/// General tiles for the border pixels `px`.
///
/// # Safety
/// As [`conv`].
#[inline(always)]
unsafe fn flush<K: MicroF32, const MM: usize>(g: &Geom, t: &Tile<K>, px: &[(usize, usize)]) {
    let mut i = 0;
    while i < px.len() {
        let n = tile_len(K::N, px.len() - i);
        let p = px[i..].as_ptr();
        // SAFETY: `px` holds `n` pixels from `i` on (`tile_len` never exceeds what's left);
        // `general`'s conditions are this function's (# Safety), the pixels the caller's.
        unsafe {
            match n {
                6 => general::<K, MM, 6>(g, t, &*(p as *const [(usize, usize); 6])),
                4 => general::<K, MM, 4>(g, t, &*(p as *const [(usize, usize); 4])),
                2 => general::<K, MM, 2>(g, t, &*(p as *const [(usize, usize); 2])),
                _ => general::<K, MM, 1>(g, t, &*(p as *const [(usize, usize); 1])),
            }
        }
        i += n;
    }
}

/// Input channels `0..n` of one tap: `src[p]` for each pixel, weights from `wt`.
///
/// # Safety
/// As [`conv`]; every `src[p] + n` and `wt + (MM - 1) * block_len + 16 * n` is readable.
#[inline(always)]
unsafe fn run<K: MicroF32, const MM: usize, const NN: usize>(t: &Tile<K>, src: &[*const f32; NN], wt: *const f32, n: usize, acc: &mut [[K::Acc; MM]; NN]) {
    for j in 0..n {
        // SAFETY: `K`'s CPU features (caller); `j < n`, so the row is readable (# Safety).
        let mut wv = [unsafe { K::load_w(wt.add(j * OC_BLOCK)) }; MM];
        for m in 1..MM {
            // SAFETY: as above, block `m < MM`.
            wv[m] = unsafe { K::load_w(wt.add(m * t.block_len + j * OC_BLOCK)) };
        }
        for p in 0..NN {
            // SAFETY: `K`'s CPU features; `src[p] + j` is readable for `j < n` (# Safety).
            let xb = unsafe { K::bcast(src[p].add(j)) };
            for m in 0..MM {
                // SAFETY: `K`'s CPU features (caller).
                unsafe { K::step(&mut acc[p][m], &wv[m], xb) };
            }
        }
    }
}

/// Accumulators started with the blocks' biases.
///
/// # Safety
/// As [`conv`].
#[inline(always)]
unsafe fn start<K: MicroF32, const MM: usize, const NN: usize>(t: &Tile<K>) -> [[K::Acc; MM]; NN] {
    // SAFETY: `K`'s CPU features (caller, # Safety).
    let mut row = [unsafe { K::init(&t.req[0]) }; MM];
    for m in 1..MM {
        // SAFETY: `K`'s CPU features (caller).
        row[m] = unsafe { K::init(&t.req[m]) };
    }
    [row; NN]
}

/// Store one pixel's `MM` blocks (activation applied) at `yp`.
///
/// # Safety
/// As [`conv`]; `yp` is the pixel's output at the run's first channel.
#[inline(always)]
unsafe fn store<K: MicroF32, const MM: usize>(t: &Tile<K>, acc: &[K::Acc; MM], yp: *mut f32) {
    for m in 0..MM {
        // SAFETY: `K`'s CPU features (caller); `yp` is the pixel's output at the run's first
        // channel (# Safety) and block `m < MM` of the run starts `16 * m` after it.
        unsafe { K::store(acc[m], &t.req[m], yp.add(m * OC_BLOCK)) };
    }
}

/// Interior tile: pixels (oy, ox..ox + NN), every tap inside the input.
///
/// # Safety
/// As [`conv`], plus that condition.
#[inline(always)]
unsafe fn fast<K: MicroF32, const MM: usize, const NN: usize>(g: &Geom, t: &Tile<K>, oy: usize, ox: usize) {
    // SAFETY: as this function (# Safety).
    let mut acc = unsafe { start::<K, MM, NN>(t) };
    let first = ((oy * g.sh - g.pt) * g.iw + (ox * g.sw - g.pl)) * g.ic + t.ic_off;
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let o = first + (ky * g.dh * g.iw + kx * g.dw) * g.ic;
            let mut src = [t.x; NN];
            for (p, s) in src.iter_mut().enumerate() {
                // SAFETY: tap (ky, kx) of an interior pixel is inside the input (# Safety).
                *s = unsafe { t.x.add(o + p * g.sw * g.ic) };
            }
            // SAFETY: as this function; each `src[p]` starts the tap's `icg` channels of the
            // conv group inside the input, and tap (ky, kx) of the run's `MM` blocks is inside
            // the weights (`conv_shape`).
            unsafe { run::<K, MM, NN>(t, &src, t.w.add((ky * g.kw + kx) * t.tap_len), t.icg, &mut acc) };
        }
    }
    // SAFETY: pixel (oy, ox) is in the caller's rows of `y`, at the run's first channel.
    let y0 = unsafe { t.y.add(((oy - t.oy0) * g.ow + ox) * g.oc + t.oc_off) };
    for p in 0..NN {
        // SAFETY: as this function; pixel `p < NN` of the tile is `p * oc` after `y0`, in
        // the same row.
        unsafe { store::<K, MM>(t, &acc[p], y0.add(p * g.oc)) };
    }
}

/// General tile: any `NN` output pixels; padded taps read the zero buffer.
///
/// # Safety
/// As [`conv`]; every pixel is within the caller's rows.
#[inline(always)]
unsafe fn general<K: MicroF32, const MM: usize, const NN: usize>(g: &Geom, t: &Tile<K>, px: &[(usize, usize); NN]) {
    // SAFETY: as this function (# Safety).
    let mut acc = unsafe { start::<K, MM, NN>(t) };
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let off = tap_offsets(g, px, ky, kx, t.ic_off);
            // SAFETY: tap (ky, kx) of the run's first block is inside the weights.
            let wt = unsafe { t.w.add((ky * g.kw + kx) * t.tap_len) };
            let mut c = 0;
            while c < t.icg {
                let cn = (t.icg - c).min(CHUNK);
                let mut src = [t.pad; NN];
                for p in 0..NN {
                    if off[p] != usize::MAX {
                        // SAFETY: `off[p]` is an unpadded tap's first channel in the input and
                        // `c < icg` channels of the conv group follow it there.
                        src[p] = unsafe { t.x.add(off[p] + c) };
                    }
                }
                // SAFETY: as this function; each `src[p]` has `cn` readable values (input, or
                // the `CHUNK` zeros of `pad`), and the weights of channels `c..c + cn` of the
                // tap are inside the run's blocks.
                unsafe { run::<K, MM, NN>(t, &src, wt.add(c * OC_BLOCK), cn, &mut acc) };
                c += cn;
            }
        }
    }
    for (p, &(oy, ox)) in px.iter().enumerate() {
        // SAFETY: as this function; the pixel is within the caller's rows of `y` (# Safety).
        unsafe { store::<K, MM>(t, &acc[p], t.y.add(((oy - t.oy0) * g.ow + ox) * g.oc + t.oc_off)) };
    }
}
