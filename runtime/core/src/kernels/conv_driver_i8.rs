//! The int8 convolution tile driver every SIMD set shares (tract's `frame/mmm` split): the
//! loops, the padding, the tails and the offset tables are written here once; a kernel set
//! supplies only a micro-kernel ([`MicroI8`]: load a weight row, broadcast 4 input bytes,
//! one multiply-accumulate step, requantize and store) and a `#[target_feature]` entry that
//! instantiates [`conv`] with it. Everything here is `#[inline(always)]`, so it is compiled
//! inside that entry, with its features.
//!
//! A micro-tile holds `NN` output pixels x `MM` units of `UNIT` output channels for the
//! whole reduction (all taps, all input channels of the group). Pixels whose taps all fall
//! inside the input (the interior, nearly all of a large map) run one flat loop over (tap,
//! group of 4 channels) with a per-layer table of input offsets: no per-tap set-up, no
//! branches; with few input channels, over (kernel row, group of 4 bytes of that row) on a
//! row-merged copy of the weights ([`merge_rows`]). Border pixels (and the rare tile whose
//! last group of 4 would read past the input) are gathered `N` at a time, in any order, and
//! run tap by tap with padded taps pointed at a buffer of zero points.
//!
//! Exactness: a tap that falls in the padding reads the input zero point `zx`, so every
//! pixel runs all taps and, with `X_ADD` what the micro-kernel adds to every input byte,
//! `acc = bias - (X_ADD + zx) * Σw + Σ (x' + X_ADD) * w = bias + Σ_inside (x - zx) * w`
//! with `x' = zx` on padded taps (`Σw` summed per call with the step itself, against input
//! bytes it turns into 1s): the reference's accumulator mod 2^32 (all wrapping). Bytes
//! of a group past the pixel's channels (`icg` not a multiple of 4) meet zero weights (the
//! validator checks the padding is zero); reads that would pass the input's end come from a
//! copy of its last bytes followed by zeros.

// Register tiles are indexed by unit and pixel on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use crate::format::packing::{Blocked, BLOCKED, OC_BLOCK};
use crate::kernels::conv_tiles::{interior, tap_offsets, tile_len};
use crate::kernels::simd_args::{conv_shape, lanes, CHUNK};
use crate::kernels::{scalar_conv2d_i8, ConvI8, Geom, QOut};

/// One architecture's int8 micro-kernel: what the driver needs to run a tile.
///
/// # Safety
/// Implementations' methods may only be called where the CPU has their instructions (the
/// driver is instantiated from a `#[target_feature]` entry of the kernel set), and with
/// pointers valid for what each method reads or writes (`load_w`: one unit's row of
/// `UNIT * 4` bytes; `store`: the unit's `valid` outputs).
pub(crate) trait MicroI8 {
    /// Accumulators of one pixel x one unit.
    type Acc: Copy;
    /// One weight row of a unit (`UNIT` channels x 4 input channels), loaded.
    type W: Copy;
    /// The 4 input bytes of one pixel, broadcast.
    type X: Copy;
    /// What [`MicroI8::store`] needs for one unit (accumulator start, multipliers, lanes).
    type Req: Copy;
    /// Output channels per unit (16, or 8: a unit is then half a BLOCKED block).
    const UNIT: usize;
    /// Most pixels per tile: 1, 2, 4 or 6.
    const N: usize;
    /// Most units per tile: 1..=4.
    const M: usize;
    /// Interior tiles with `MM * NN <= DUAL` alternate two accumulator sets (enough
    /// independent chains to hide the step's latency, registers permitting).
    const DUAL: usize;
    /// Units per pass of the dense driver (`dense_driver_i8.rs`), which keeps two
    /// accumulators (sums and weight sums) per unit in registers.
    const DENSE_UNITS: usize;
    /// What the step adds to each input byte (128 where it multiplies unsigned bytes).
    const X_ADD: i32;
    /// Zeroed accumulators.
    unsafe fn zero() -> Self::Acc;
    /// `a + b`, lane by lane (wrapping).
    unsafe fn add(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// The row at `p` (64-byte rows; `p` at the unit's first channel).
    unsafe fn load_w(p: *const i8) -> Self::W;
    /// Broadcast one pixel's 4 input bytes.
    unsafe fn bcast(x: i32) -> Self::X;
    /// Byte the driver xors into a scratch copy of the input before the tiles run (0: no
    /// copy; the tiles read the input itself).
    const PRE_XOR: u8 = 0;
    /// [`MicroI8::bcast`] of the 4 bytes at `p`, which hold the input bytes xored with
    /// [`MicroI8::PRE_XOR`] (a set that pre-flips broadcasts them as they are: one load).
    #[inline(always)]
    unsafe fn bcast_at(p: *const i8) -> Self::X {
        // SAFETY: the caller vouches for the CPU and the 4 bytes at `p` (the trait's # Safety);
        // `read_unaligned` needs no alignment.
        unsafe { Self::bcast((p as *const i32).read_unaligned()) }
    }
    /// `acc[c] += Σ_i w[c][i] * (x[i] + X_ADD)`.
    unsafe fn step(acc: &mut Self::Acc, w: &Self::W, x: Self::X);
    /// The store constants of a unit: `init` (added to the sums) and `mult` per channel
    /// (`UNIT` each), `valid` real channels, output quantization `q`.
    unsafe fn req(init: &[i32], mult: &[f32], valid: usize, q: QOut) -> Self::Req;
    /// The unit's `UNIT` channel sums, in order (the rest zero).
    unsafe fn sums(acc: Self::Acc) -> [i32; OC_BLOCK];
    /// Requantize one pixel's unit and store its `valid` channels at `y`.
    unsafe fn store(acc: Self::Acc, r: &Self::Req, y: *mut i8);
    /// [`rows_of`] compiled with the set's features: `#[target_feature(enable = ..)]` and a
    /// body of `rows_of::<Self, MM>(g, t, r0, r1)`, `#[inline(never)]`: one function per tile
    /// width keeps each compiled loop nest the size LLVM allocates registers well for.
    unsafe fn rows<const MM: usize>(g: &Geom, t: &Tile<Self>, r0: usize, r1: usize)
    where
        Self: Sized;
}

/// Most (tap, group) steps the interior path's offset table holds (16 KiB of scratch).
const MAX_STEPS: usize = 4096;
/// Most bytes of row-merged weights (scratch).
const MERGED_BYTES: usize = 8192;
/// Most units per tile any micro-kernel asks for.
const MAX_M: usize = 4;

/// A set's `#[target_feature]` instantiation of [`conv`].
pub(crate) type Tiles = unsafe fn(&ConvI8<'_>, &Blocked, usize, &mut [i8], &mut [u8]);

/// The kernel entry's body: checks the arguments ([`conv_shape`]) and the scratch
/// ([`scratch_bytes`]) and runs `tiles`, or the scalar reference where a check fails or the
/// packing isn't BLOCKED.
///
/// # Safety
/// The CPU has the features `tiles` is compiled with.
pub(crate) unsafe fn blocked_or_scalar<K: MicroI8>(a: &ConvI8<'_>, oy0: usize, y: &mut [i8], scratch: &mut [u8], tiles: Tiles) {
    match conv_shape(&a.g, a.packing, true, a.x.len(), a.w.len(), &[a.bias.len(), a.mult.len()], oy0, y.len()) {
        // SAFETY: the caller vouches for the CPU; `conv_shape` checked that the slices
        // cover every read and write the driver makes, and the scratch is long enough.
        Some(b) if scratch.len() >= plan::<K>(&a.g, &b).bytes() => unsafe { tiles(a, &b, oy0, y, scratch) },
        _ => scalar_conv2d_i8(a, oy0, y),
    }
}

/// Scratch bytes [`conv`] with micro-kernel `K` needs for a convolution of geometry `g` (0
/// where the driver doesn't run: the kernel calls the scalar reference, which needs none):
/// the offset table, the zero-point and tail buffers, the row-merged weights and, where `K`
/// pre-flips its input ([`MicroI8::PRE_XOR`]), one band of flipped input rows.
pub(crate) fn scratch_bytes<K: MicroI8>(g: &Geom) -> usize {
    conv_shape(g, BLOCKED, true, usize::MAX, usize::MAX, &[], 0, 0).map_or(0, |b| plan::<K>(g, &b).bytes())
}

/// Input bytes a flipped band aims to hold (the rows of a few output rows): small enough to
/// stay in L2 between the flip and the tiles reading it. The unit tests' small maps use a
/// tiny band, so they run many bands per call and their edges.
const BAND_BYTES: usize = if cfg!(test) { 512 } else { 128 * 1024 };

/// How the driver runs one geometry.
#[derive(Clone, Copy)]
struct Plan {
    /// Groups of 4 bytes per merged kernel row ([`merge_rows`]); 0: no merging.
    mg: usize,
    /// Steps of the interior path's offset table; 0: no interior path.
    steps: usize,
    /// Bytes of row-merged weights.
    merged: usize,
    /// Output rows per flipped band ([`MicroI8::PRE_XOR`]); 0: the set reads the input as it is.
    chunk: usize,
    /// Bytes of the flipped band: the input rows `chunk` output rows read, at most.
    band: usize,
}

impl Plan {
    /// Scratch bytes: up to 3 to align the table, the table, `4 * CHUNK` bytes of zero
    /// points, `8 * CHUNK` of input tail, the merged weights, the flipped band.
    fn bytes(&self) -> usize {
        (3 + 4 * self.steps + 12 * CHUNK + self.merged).saturating_add(self.band)
    }
}

/// The plan for `g` (`b` its BLOCKED shape, as `conv_shape` accepted it).
#[inline(always)]
fn plan<K: MicroI8>(g: &Geom, b: &Blocked) -> Plan {
    let ng = b.ic_groups();
    // Row merging, where it applies and pays (see [`merge_rows`]).
    let mg = (g.kw * g.ic).div_ceil(4);
    let merged = b.oc_blocks().saturating_mul(g.kh).saturating_mul(mg).saturating_mul(64);
    let mg = if g.groups != 1 || g.dw != 1 || g.kw < 2 || mg >= g.kw * ng || merged > MERGED_BYTES { 0 } else { mg };
    let steps = if mg > 0 { g.kh * mg } else { g.kh * g.kw * ng };
    let last = ((g.kh - 1) * g.dh).saturating_mul(g.iw).saturating_add((g.kw - 1) * g.dw).saturating_mul(g.ic).saturating_add(4 * ng);
    let steps = if steps <= MAX_STEPS && last < u32::MAX as usize { steps } else { 0 };
    let (chunk, band) = if K::PRE_XOR != 0 {
        // Output rows per band: as many as keep the band near `BAND_BYTES`, at least one.
        let ext = (g.kh - 1) * g.dh + 1;
        let row = g.iw.saturating_mul(g.ic).max(1);
        let fit = BAND_BYTES / row;
        let chunk = if fit > ext { (fit - ext) / g.sh + 1 } else { 1 }.min(g.oh).max(1);
        let rows = g.ih.min((chunk - 1).saturating_mul(g.sh).saturating_add(ext));
        (chunk, rows.saturating_mul(row))
    } else {
        (0, 0)
    };
    Plan { mg, steps, merged: if mg > 0 { merged } else { 0 }, chunk, band }
}

/// The input rows `b0..b1` output rows `ya..yb` (`ya < yb`) read, or `None` where they
/// read none (all their taps fall in the padding).
#[inline(always)]
fn band(g: &Geom, ya: usize, yb: usize) -> Option<(usize, usize)> {
    let ext = (g.kh - 1) * g.dh + 1;
    let b0 = (ya * g.sh).saturating_sub(g.pt);
    let b1 = g.ih.min(((yb - 1) * g.sh + ext).saturating_sub(g.pt));
    (b0 < b1).then_some((b0, b1))
}

/// What a micro-tile needs, fixed per (conv group, run of up to `M` units).
pub(crate) struct Tile<K: MicroI8> {
    x: *const i8,
    x_len: usize,
    /// `4 * CHUNK` bytes of `zx`: the source of padded taps.
    pad: *const i8,
    /// The input's last `4 * CHUNK` bytes (from `tail_base`) followed by as many zeros:
    /// where a pixel's last group of 4 channels ends past the input, its reads come from here.
    tail: *const i8,
    tail_base: usize,
    /// Interior path: input offset of step `k` from the pixel's first tap, for `steps`
    /// steps; `steps == 0` disables the interior path. A step is a (tap, group of 4
    /// channels), or, for row-merged weights, a (kernel row, group of 4 bytes of that row).
    table: *const u32,
    steps: usize,
    /// Interior path weights of each unit of the run: the BLOCKED weights, or a row-merged
    /// copy of them.
    fw: [*const i8; MAX_M],
    /// BLOCKED weights of each unit of the run (first tap).
    w: [*const i8; MAX_M],
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
    req: [K::Req; MAX_M],
}

/// Row merging, for convolutions with few input channels (the first layer of a network):
/// the `kw * ic` bytes of one kernel row of a pixel are contiguous in NHWC, so an interior
/// pixel can read them as `ceil(kw * ic / 4)` groups of 4 instead of `kw * ceil(ic / 4)`
/// (an MNIST 3x3 conv on 1 channel: 3 steps instead of 9). Copies the weights in that order
/// into `out` (zero padded, 64-byte rows of 16 channels as BLOCKED), `mg` groups
/// per row (`mg`, as [`plan`] decided: merging applies and pays). Border pixels keep using
/// the BLOCKED weights.
#[inline(always)]
fn merge_rows(a: &ConvI8<'_>, b: &Blocked, mg: usize, out: &mut [u8]) {
    let g = &a.g;
    let blocks = b.oc_blocks();
    out.fill(0);
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
                        out[dst + 4 * l] = a.w[src + 4 * l] as u8;
                    }
                }
            }
        }
    }
}

/// The per-geometry buffers [`conv`] fills once per call and every band's tiles read.
struct Shared<'s> {
    plan: Plan,
    table: &'s [u32],
    pad: &'s [u8],
    merged: &'s [u8],
}

/// The convolution of BLOCKED int8 weights with micro-kernel `K`.
///
/// A set that pre-flips its input ([`MicroI8::PRE_XOR`]) runs the output rows in chunks:
/// each chunk's input rows (its band) are flipped into scratch and the chunk runs as a
/// convolution of that band (same taps: the band holds every input row the chunk reads,
/// and its top padding is what is left of the original's). A chunk that reads no input row
/// (all taps in the padding) runs the scalar reference.
///
/// # Safety
/// The CPU has `K`'s instructions, `b` is `conv_shape`'s result for these arguments and
/// `scratch` holds at least [`scratch_bytes`] bytes.
#[inline(always)]
pub(crate) unsafe fn conv<K: MicroI8>(a: &ConvI8<'_>, b: &Blocked, oy0: usize, y: &mut [i8], scratch: &mut [u8]) {
    let g = &a.g;
    let plan = plan::<K>(g, b);
    let skip = (4 - scratch.as_ptr() as usize % 4) % 4;
    let (table, rest) = scratch[skip..].split_at_mut(4 * plan.steps);
    // SAFETY: `table` is 4-aligned (`skip`) and holds `steps` u32s; any bytes are a u32.
    let table = unsafe { core::slice::from_raw_parts_mut(table.as_mut_ptr() as *mut u32, plan.steps) };
    let (pad, rest) = rest.split_at_mut(4 * CHUNK);
    let (tail, rest) = rest.split_at_mut(8 * CHUNK);
    let (merged, rest) = rest.split_at_mut(plan.merged);
    pad.fill(a.zx as i8 as u8 ^ K::PRE_XOR);
    if plan.mg > 0 {
        merge_rows(a, b, plan.mg, merged);
    }
    let ng = b.ic_groups();
    // The interior path's offsets: tap (ky, kx), group j -> (ky*dh*iw + kx*dw)*ic + 4j.
    for (k, e) in table.iter_mut().enumerate() {
        let off = if plan.mg > 0 {
            (k / plan.mg) * g.dh * g.iw * g.ic + 4 * (k % plan.mg)
        } else {
            let (tap, j) = (k / ng, k % ng);
            let (ky, kx) = (tap / g.kw, tap % g.kw);
            (ky * g.dh * g.iw + kx * g.dw) * g.ic + 4 * j
        };
        *e = off as u32;
    }
    let sh = Shared { plan, table, pad, merged };
    if plan.chunk == 0 {
        // SAFETY: this function's conditions; `a.x` is the input `conv_shape` checked.
        unsafe { run::<K>(a, g, b, &sh, a.x, oy0, y, tail) };
        return;
    }
    let row_len = g.ow * g.oc;
    let rows = y.len() / row_len;
    let pix_row = g.iw * g.ic;
    let mut r = 0;
    while r < rows {
        let n = plan.chunk.min(rows - r);
        let (ya, yb) = (oy0 + r, oy0 + r + n);
        let yc = &mut y[r * row_len..(r + n) * row_len];
        match band(g, ya, yb) {
            Some((b0, b1)) => {
                let src = &a.x[b0 * pix_row..b1 * pix_row];
                // `band` rows of `plan.band` bytes at most (`plan`: `n <= chunk`).
                let copy = &mut rest[..src.len()];
                for (d, &v) in copy.iter_mut().zip(src) {
                    *d = v as u8 ^ K::PRE_XOR;
                }
                // SAFETY: `copy` is `src.len()` initialized bytes; any byte is an i8.
                let x = unsafe { core::slice::from_raw_parts(copy.as_ptr() as *const i8, copy.len()) };
                // The chunk as a convolution of its band: output row `ya + i` is row `i`,
                // input row `b0 + j` is row `j`; `pt + b0 >= ya * sh` (`band`).
                let sub = Geom { ih: b1 - b0, oh: n, pt: g.pt + b0 - ya * g.sh, ..*g };
                // SAFETY: this function's conditions; `x` holds the `sub.ih` rows `sub` reads
                // and `yc` its `n` output rows (the same taps as `g`'s rows `ya..yb`).
                unsafe { run::<K>(a, &sub, b, &sh, x, 0, yc, tail) };
            }
            None => scalar_conv2d_i8(a, ya, yc),
        }
        r += n;
    }
}

/// Output rows `oy0..` (`y`) of geometry `g` over the input `x` (already xored with
/// `K::PRE_XOR`), with [`conv`]'s buffers.
///
/// # Safety
/// As [`conv`]; `x` holds `g.ih * g.iw * g.ic` bytes and `y` whole rows `oy0..` of `g`.
#[allow(clippy::too_many_arguments)] // the pieces of one call, split once in `conv`
#[inline(always)]
unsafe fn run<K: MicroI8>(a: &ConvI8<'_>, g: &Geom, b: &Blocked, sh: &Shared<'_>, x: &[i8], oy0: usize, y: &mut [i8], tail: &mut [u8]) {
    let Plan { mg, steps, .. } = sh.plan;
    let tail_base = x.len().saturating_sub(4 * CHUNK);
    let n_tail = x.len() - tail_base;
    for (d, &v) in tail.iter_mut().zip(&x[tail_base..]) {
        *d = v as u8;
    }
    tail[n_tail..].fill(0);
    let rows = y.len() / (g.ow * g.oc);
    let ng = b.ic_groups();
    let fblock_len = if mg > 0 { g.kh * mg * 64 } else { b.block_len() };
    // SAFETY: the caller guarantees `K`'s CPU features (# Safety).
    let zero_req = unsafe { K::req(&[0; OC_BLOCK], &[0.0; OC_BLOCK], 0, a.q) };
    let mut t = Tile::<K> {
        x: x.as_ptr(),
        x_len: x.len(),
        pad: sh.pad.as_ptr() as *const i8,
        tail: tail.as_ptr() as *const i8,
        tail_base,
        table: sh.table.as_ptr(),
        steps,
        fw: [a.w.as_ptr(); MAX_M],
        w: [a.w.as_ptr(); MAX_M],
        tap_len: b.tap_len(),
        ng,
        ic_off: 0,
        y: y.as_mut_ptr(),
        oy0,
        oc_off: 0,
        req: [zero_req; MAX_M],
    };
    let per_block = OC_BLOCK / K::UNIT;
    let units = b.ocg.div_ceil(K::UNIT);
    let corr = K::X_ADD.wrapping_add(a.zx);
    // Input bytes the step turns into 1s: the weight sums are steps against them.
    // SAFETY: `K`'s CPU features, as above.
    let ones = unsafe { K::bcast(i32::from_ne_bytes([(1 - K::X_ADD) as i8 as u8; 4])) };
    for gi in 0..g.groups {
        let mut u = 0;
        while u < units {
            let mm = (units - u).min(K::M).min(MAX_M);
            t.ic_off = gi * b.icg;
            t.oc_off = gi * b.ocg + u * K::UNIT;
            for m in 0..mm {
                let (blk, lane0) = (gi * b.oc_blocks() + (u + m) / per_block, ((u + m) % per_block) * K::UNIT);
                // SAFETY: `blk < groups * oc_blocks` and `4 * lane0 < 64`: inside the BLOCKED
                // weights, whose length `conv_shape` checked (`b` is its result, # Safety).
                t.w[m] = unsafe { a.w.as_ptr().add(blk * b.block_len() + 4 * lane0) };
                t.fw[m] = if mg > 0 {
                    // SAFETY: `blk - gi * oc_blocks < oc_blocks` blocks of `fblock_len` bytes:
                    // inside `merged` (`plan` sized it `oc_blocks * kh * mg * 64`).
                    unsafe { (sh.merged.as_ptr() as *const i8).add((blk - gi * b.oc_blocks()) * fblock_len + 4 * lane0) }
                } else {
                    t.w[m]
                };
                // SAFETY: `K`'s CPU features (caller); rows `r < block_len / 64` of the unit's
                // block start at `t.w[m] + 64 * r`, inside the weights (above).
                let ws = unsafe {
                    let mut ws = K::zero();
                    for r in 0..b.block_len() / 64 {
                        K::step(&mut ws, &K::load_w(t.w[m].add(r * 64)), ones);
                    }
                    K::sums(ws)
                };
                let (c0, valid) = (t.oc_off + m * K::UNIT, (b.ocg - (u + m) * K::UNIT).min(K::UNIT));
                let bias = lanes(a.bias, c0, valid);
                let mut init = [0i32; OC_BLOCK];
                for l in 0..K::UNIT {
                    init[l] = bias[l].wrapping_sub(corr.wrapping_mul(ws[l]));
                }
                // SAFETY: `K`'s CPU features (caller).
                t.req[m] = unsafe { K::req(&init, &lanes(a.mult, c0, valid), valid, a.q) };
            }
            // SAFETY: this function's # Safety is `rows`'s; `t` is filled for `mm` units and
            // the rows `oy0..oy0 + rows` are the ones `y` holds.
            unsafe {
                match mm {
                    4 => K::rows::<4>(g, &t, oy0, oy0 + rows),
                    3 => K::rows::<3>(g, &t, oy0, oy0 + rows),
                    2 => K::rows::<2>(g, &t, oy0, oy0 + rows),
                    _ => K::rows::<1>(g, &t, oy0, oy0 + rows),
                }
            }
            u += mm;
        }
    }
}

/// Output rows `r0..r1` for a run of `MM` units: interior pixels in tiles along each row,
/// border pixels gathered into tiles of `N`.
///
/// # Safety
/// As [`conv`]; `t` was filled by it.
#[inline(always)]
pub(crate) unsafe fn rows_of<K: MicroI8, const MM: usize>(g: &Geom, t: &Tile<K>, r0: usize, r1: usize) {
    let (iy_lo, iy_hi) = interior(g.ih, g.oh, g.kh, g.sh, g.dh, g.pt);
    let (ix_lo, ix_hi) = if t.steps > 0 { interior(g.iw, g.ow, g.kw, g.sw, g.dw, g.pl) } else { (0, 0) };
    let last_step = if t.steps > 0 {
        // SAFETY: `t.table` holds `t.steps > 0` offsets (`conv` filled it).
        unsafe { *t.table.add(t.steps - 1) as usize + 4 }
    } else {
        0
    };
    let mut border = Border { px: [(0, 0); 6], n: 0 };
    for oy in r0..r1 {
        let inner = oy >= iy_lo && oy < iy_hi && ix_hi > ix_lo;
        let (a, b) = if inner { (ix_lo, ix_hi) } else { (g.ow, g.ow) };
        for ox in (0..a).chain(b..g.ow) {
            // SAFETY: as this function (# Safety); (oy, ox) is a pixel of the caller's rows.
            unsafe { border.push::<K, MM>(g, t, oy, ox) };
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
            let n = tile_len(K::N, b - ox);
            if !fits(ox - a + n) {
                for p in ox..b {
                    // SAFETY: as this function; (oy, p) is a pixel of the caller's rows.
                    unsafe { border.push::<K, MM>(g, t, oy, p) };
                }
                break;
            }
            // SAFETY: as this function; pixels ox..ox + n are interior (all taps inside the
            // input) and `fits` checked the tile's last read is inside it: `fast`'s conditions.
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
    // SAFETY: as this function; the pixels waiting are of the caller's rows.
    unsafe { border.flush::<K, MM>(g, t) };
}

/// Border pixels waiting for a tile.
struct Border {
    px: [(usize, usize); 6],
    n: usize,
}

impl Border {
    /// # Safety
    /// As [`conv`].
    #[inline(always)]
    unsafe fn push<K: MicroI8, const MM: usize>(&mut self, g: &Geom, t: &Tile<K>, oy: usize, ox: usize) {
        self.px[self.n] = (oy, ox);
        self.n += 1;
        if self.n == K::N {
            // SAFETY: as this function (# Safety).
            unsafe { self.flush::<K, MM>(g, t) };
        }
    }

    /// # Safety
    /// As [`conv`].
    #[inline(always)]
    unsafe fn flush<K: MicroI8, const MM: usize>(&mut self, g: &Geom, t: &Tile<K>) {
        let mut i = 0;
        while i < self.n {
            let n = tile_len(K::N, self.n - i);
            let px = self.px[i..].as_ptr();
            // SAFETY: `i + n <= self.n <= 6` pixels are stored from `i` on; `general`'s
            // conditions are this function's (# Safety) and the pixels are the caller's.
            unsafe {
                match n {
                    6 => general::<K, MM, 6>(g, t, &*(px as *const [(usize, usize); 6])),
                    4 => general::<K, MM, 4>(g, t, &*(px as *const [(usize, usize); 4])),
                    2 => general::<K, MM, 2>(g, t, &*(px as *const [(usize, usize); 2])),
                    _ => general::<K, MM, 1>(g, t, &*(px as *const [(usize, usize); 1])),
                }
            }
            i += n;
        }
        self.n = 0;
    }
}

/// Requantize and store the tile's pixels, pixel `p` at `yp(p)`.
///
/// # Safety
/// As [`conv`]; every `yp(p)` is a pixel's output at the run's first channel.
#[inline(always)]
unsafe fn store<K: MicroI8, const MM: usize, const NN: usize>(t: &Tile<K>, acc: &[[K::Acc; MM]; NN], yp: impl Fn(usize) -> *mut i8) {
    for p in 0..NN {
        for m in 0..MM {
            // SAFETY: `K`'s CPU features (caller); `yp(p)` is the pixel's output at the run's
            // first channel (# Safety) and unit `m < MM` of the run starts `m * UNIT` after it.
            unsafe { K::store(acc[p][m], &t.req[m], yp(p).add(m * K::UNIT)) };
        }
    }
}

/// One (tap, group) step of a tile: input at `src[p] + o`, weight row at `w[m] + o_w`.
///
/// # Safety
/// As [`conv`]; the reads are inside the input (or its pad and tail buffers) and weights.
#[inline(always)]
unsafe fn step<K: MicroI8, const MM: usize, const NN: usize>(w: &[*const i8; MAX_M], o_w: usize, src: &[*const i8; NN], o: usize, acc: &mut [[K::Acc; MM]; NN]) {
    // SAFETY: `K`'s CPU features (caller); the row at `w[m] + o_w` is inside the weights
    // (# Safety).
    let mut wv = [unsafe { K::load_w(w[0].add(o_w)) }; MM];
    for m in 1..MM {
        // SAFETY: as for `w[0]`.
        wv[m] = unsafe { K::load_w(w[m].add(o_w)) };
    }
    for p in 0..NN {
        // SAFETY: `K`'s CPU features; the 4 bytes at `src[p] + o` are inside the input (or
        // its flipped copy) or its pad or tail buffer (# Safety).
        let x = unsafe { K::bcast_at(src[p].add(o)) };
        for m in 0..MM {
            // SAFETY: `K`'s CPU features (caller).
            unsafe { K::step(&mut acc[p][m], &wv[m], x) };
        }
    }
}

/// Interior tile: pixels (oy, ox..ox + NN), every tap inside the input and the tile's
/// last read inside it too (checked by the caller); one flat loop over the table's steps.
/// Narrow tiles alternate two sets of accumulators ([`MicroI8::DUAL`]); the sets are added
/// at the end (exact: wrapping i32 sums in any order).
///
/// # Safety
/// As [`conv`], plus those conditions.
#[inline(always)]
unsafe fn fast<K: MicroI8, const MM: usize, const NN: usize>(g: &Geom, t: &Tile<K>, oy: usize, ox: usize) {
    // SAFETY: `K`'s CPU features (caller).
    let mut acc = [[unsafe { K::zero() }; MM]; NN];
    let first = ((oy * g.sh - g.pt) * g.iw + (ox * g.sw - g.pl)) * g.ic + t.ic_off;
    let mut src = [t.x; NN];
    for (p, s) in src.iter_mut().enumerate() {
        // SAFETY: the pixel's first tap is inside the input (interior pixel, # Safety).
        *s = unsafe { t.x.add(first + p * g.sw * g.ic) };
    }
    let mut k = 0;
    if MM * NN <= K::DUAL {
        // SAFETY: `K`'s CPU features (caller).
        let mut odd = [[unsafe { K::zero() }; MM]; NN];
        while k + 2 <= t.steps {
            // SAFETY: `k + 1 < t.steps` entries of the table; a step's reads, `src[p]` plus its
            // offset, end inside the input (the caller checked the tile's last read); the
            // interior weights hold `t.steps` rows per unit.
            unsafe {
                step::<K, MM, NN>(&t.fw, k * 64, &src, *t.table.add(k) as usize, &mut acc);
                step::<K, MM, NN>(&t.fw, (k + 1) * 64, &src, *t.table.add(k + 1) as usize, &mut odd);
            }
            k += 2;
        }
        for p in 0..NN {
            for m in 0..MM {
                // SAFETY: `K`'s CPU features (caller).
                acc[p][m] = unsafe { K::add(acc[p][m], odd[p][m]) };
            }
        }
    }
    while k < t.steps {
        // SAFETY: as in the loop above, for `k < t.steps`.
        unsafe { step::<K, MM, NN>(&t.fw, k * 64, &src, *t.table.add(k) as usize, &mut acc) };
        k += 1;
    }
    // SAFETY: pixel (oy, ox) is in the caller's rows of `y`, at the run's first channel.
    let y0 = unsafe { t.y.add(((oy - t.oy0) * g.ow + ox) * g.oc + t.oc_off) };
    // SAFETY: as this function; pixel `p < NN` of the tile is `p * oc` bytes after `y0`, in
    // the same row (the tile fits the row).
    unsafe { store::<K, MM, NN>(t, &acc, |p| y0.add(p * g.oc)) };
}

/// General tile: any `NN` output pixels, tap by tap; padded taps read the zero-point buffer.
///
/// # Safety
/// As [`conv`]; every pixel is within the caller's rows.
#[inline(always)]
unsafe fn general<K: MicroI8, const MM: usize, const NN: usize>(g: &Geom, t: &Tile<K>, px: &[(usize, usize); NN]) {
    // SAFETY: `K`'s CPU features (caller).
    let mut acc = [[unsafe { K::zero() }; MM]; NN];
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let off = tap_offsets(g, px, ky, kx, t.ic_off);
            let wt = (ky * g.kw + kx) * t.tap_len;
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
                        // SAFETY: `s + 4 * cn <= x_len`: the reads are inside the input.
                        src[p] = unsafe { t.x.add(s) };
                    } else {
                        // The reads end past the input: they start within its last
                        // 4 * CHUNK bytes (4 * cn <= 4 * CHUNK), which `tail` mirrors, and
                        // end within the zeros after them. Bytes that aren't this pixel's
                        // channels meet the zero weights padding its last group.
                        // SAFETY: `tail_base <= s` (above) and the reads end within the
                        // `8 * CHUNK` bytes of `tail`.
                        src[p] = unsafe { t.tail.add(s - t.tail_base) };
                    }
                }
                for j in 0..cn {
                    // SAFETY: as this function; group `c + j < ng` of tap (ky, kx) is a row of
                    // the BLOCKED weights, and each `src[p] + 4 * j` is inside the input, the
                    // pad buffer (`4 * CHUNK` bytes) or the tail buffer (above).
                    unsafe { step::<K, MM, NN>(&t.w, wt + (c + j) * 64, &src, 4 * j, &mut acc) };
                }
                c += cn;
            }
        }
    }
    let y = t.y;
    // SAFETY: as this function; every pixel is within the caller's rows of `y` (# Safety), so
    // its output at the run's first channel is too.
    unsafe { store::<K, MM, NN>(t, &acc, |p| y.add(((px[p].0 - t.oy0) * g.ow + px[p].1) * g.oc + t.oc_off)) };
}
