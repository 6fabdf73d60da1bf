//! The f32 dense-layer driver every SIMD set shares, on the f32 micro-kernels of the conv
//! driver ([`MicroF32`]): BLOCKED weights `[n/16][k][16]`; each input is broadcast against
//! 16 outputs' weights, `MicroF32::DENSE_M` blocks per pass (independent FMA chains),
//! accumulators started with the bias. Within the error budget of `kernels/tests.rs`.

// Register tiles are indexed by block on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::conv_driver_f32::MicroF32;
use crate::kernels::simd_args::{dense_shape, lanes};
use crate::kernels::{scalar_dense_f32, DenseF32};

/// The kernel entry's body: checks the arguments ([`dense_shape`]) and runs `tiles` (the
/// set's `#[target_feature]` instantiation of [`dense`]), or the scalar reference where the
/// check fails or the packing isn't BLOCKED.
///
/// # Safety
/// The CPU has the features `tiles` is compiled with.
pub(crate) unsafe fn blocked_or_scalar(a: &DenseF32<'_>, n0: usize, y: &mut [f32], tiles: unsafe fn(&DenseF32<'_>, &Blocked, usize, &mut [f32])) {
    match dense_shape(a.packing, false, a.x.len(), a.w.len(), &[a.bias.len()], n0, y.len()) {
        // SAFETY: the caller vouches for the CPU; `dense_shape` checked the slices cover
        // every access.
        Some(b) => unsafe { tiles(a, &b, n0, y) },
        None => scalar_dense_f32(a, n0, y),
    }
}

/// The dense layer on BLOCKED f32 weights with micro-kernel `K`: outputs `n0..` into `y`.
///
/// # Safety
/// The CPU has `K`'s instructions, and `b` is `dense_shape`'s result for these arguments.
#[inline(always)]
pub(crate) unsafe fn dense<K: MicroF32>(a: &DenseF32<'_>, b: &Blocked, n0: usize, y: &mut [f32]) {
    let n_end = n0 + y.len();
    let mut blk = n0 / OC_BLOCK;
    while blk * OC_BLOCK < n_end {
        let mm = (n_end - blk * OC_BLOCK).div_ceil(OC_BLOCK).min(K::DENSE_M);
        // SAFETY: as this function (# Safety); `mm` blocks from `blk` hold outputs below
        // `n_end`.
        unsafe {
            match mm {
                4 => run::<K, 4>(a, b, n0, y, blk),
                3 => run::<K, 3>(a, b, n0, y, blk),
                2 => run::<K, 2>(a, b, n0, y, blk),
                _ => run::<K, 1>(a, b, n0, y, blk),
            }
        }
        blk += mm;
    }
}

/// Blocks `blk..blk + MM`: one pass over the input.
///
/// # Safety
/// As [`dense`]; the blocks hold outputs below `n0 + y.len()`.
#[inline(always)]
unsafe fn run<K: MicroF32, const MM: usize>(a: &DenseF32<'_>, b: &Blocked, n0: usize, y: &mut [f32], blk: usize) {
    let n_end = n0 + y.len();
    let req = |m: usize| {
        let c0 = (blk + m) * OC_BLOCK;
        let valid = (n_end - c0).min(OC_BLOCK);
        // SAFETY: the caller guarantees `K`'s CPU features (# Safety).
        unsafe { K::req(&lanes(a.bias, c0, valid), valid, a.act) }
    };
    let mut r = [req(0); MM];
    for m in 1..MM {
        r[m] = req(m);
    }
    // SAFETY: `K`'s CPU features (caller).
    let mut acc = [unsafe { K::init(&r[0]) }; MM];
    for m in 1..MM {
        // SAFETY: `K`'s CPU features (caller).
        acc[m] = unsafe { K::init(&r[m]) };
    }
    // SAFETY: block `blk` holds outputs below `n0 + y.len()` (# Safety), so it is inside
    // the BLOCKED weights `dense_shape` checked.
    let w0 = unsafe { a.w.as_ptr().add(blk * b.block_len()) };
    for j in 0..a.x.len() {
        // SAFETY: `K`'s CPU features; `j < a.x.len()`.
        let x = unsafe { K::bcast(a.x.as_ptr().add(j)) };
        for m in 0..MM {
            // SAFETY: `K`'s CPU features; input `j < k` of block `blk + m` (inside the weights,
            // as `w0`) is a row of 16 weights.
            unsafe { K::step(&mut acc[m], &K::load_w(w0.add(m * b.block_len() + j * OC_BLOCK)), x) };
        }
    }
    for m in 0..MM {
        // SAFETY: `K`'s CPU features; block `blk + m` starts inside `n0..n0 + y.len()` and
        // `store` writes only its valid channels.
        unsafe { K::store(acc[m], &r[m], y.as_mut_ptr().add((blk + m) * OC_BLOCK - n0)) };
    }
}
