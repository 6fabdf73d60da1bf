//! The int8 dense-layer driver every SIMD set shares, on the int8 micro-kernels of the conv
//! driver ([`MicroI8`]): BLOCKED weights `[n/16][k/4][16][4]` are read once, a run of
//! `MicroI8::DENSE_UNITS` units per pass over the input; each group of 4 inputs is broadcast
//! against one weight row per unit, and a second step against input bytes the micro-kernel
//! turns into 1s sums the weights in the same pass (a separate pass would double the memory
//! traffic): `acc = bias - (X_ADD + zx) * Σw + Σ (x + X_ADD) * w`, the reference's
//! accumulator mod 2^32. The last group of a `k` that isn't a multiple of 4 comes from a
//! zero-padded copy (its padding meets zero weights).

// Register tiles are indexed by unit on purpose (fixed-size arrays LLVM keeps in
// registers); iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

use crate::format::packing::{Blocked, OC_BLOCK};
use crate::kernels::conv_driver_i8::MicroI8;
use crate::kernels::simd_args::{dense_shape, lanes};
use crate::kernels::{scalar_dense_i8, DenseI8};

/// The kernel entry's body: checks the arguments ([`dense_shape`]) and runs `tiles` (the
/// set's `#[target_feature]` instantiation of [`dense`]), or the scalar reference where the
/// check fails or the packing isn't BLOCKED.
///
/// # Safety
/// The CPU has the features `tiles` is compiled with.
pub(crate) unsafe fn blocked_or_scalar(a: &DenseI8<'_>, n0: usize, y: &mut [i8], tiles: unsafe fn(&DenseI8<'_>, &Blocked, usize, &mut [i8])) {
    match dense_shape(a.packing, true, a.x.len(), a.w.len(), &[a.bias.len(), a.mult.len()], n0, y.len()) {
        // SAFETY: the caller vouches for the CPU; `dense_shape` checked the slices cover
        // every access.
        Some(b) => unsafe { tiles(a, &b, n0, y) },
        None => scalar_dense_i8(a, n0, y),
    }
}

/// The dense layer on BLOCKED int8 weights with micro-kernel `K`: outputs `n0..` into `y`.
///
/// # Safety
/// The CPU has `K`'s instructions, and `b` is `dense_shape`'s result for these arguments.
#[inline(always)]
pub(crate) unsafe fn dense<K: MicroI8>(a: &DenseI8<'_>, b: &Blocked, n0: usize, y: &mut [i8]) {
    let n_end = n0 + y.len();
    let mut u = n0 / K::UNIT;
    while u * K::UNIT < n_end {
        let mm = (n_end - u * K::UNIT).div_ceil(K::UNIT).min(K::DENSE_UNITS);
        // SAFETY: as this function (# Safety); `mm` units from `u` hold outputs below `n_end`.
        unsafe {
            match mm {
                4 => run::<K, 4>(a, b, n0, y, u),
                3 => run::<K, 3>(a, b, n0, y, u),
                2 => run::<K, 2>(a, b, n0, y, u),
                _ => run::<K, 1>(a, b, n0, y, u),
            }
        }
        u += mm;
    }
}


/// Units `u..u + MM` (outputs `u * UNIT..`): one pass over the input.
///
/// # Safety
/// As [`dense`]; the units hold outputs below `n0 + y.len()`.
#[inline(always)]
unsafe fn run<K: MicroI8, const MM: usize>(a: &DenseI8<'_>, b: &Blocked, n0: usize, y: &mut [i8], u: usize) {
    let k = a.x.len();
    let full = k / 4;
    let mut last = [0u8; 4];
    for (d, &v) in last.iter_mut().zip(&a.x[full * 4..]) {
        *d = v as u8;
    }
    let per_block = OC_BLOCK / K::UNIT;
    let mut w = [a.w.as_ptr(); MM];
    for m in 0..MM {
        // SAFETY: unit `u + m` holds outputs below `n0 + y.len()` (# Safety), so its block
        // is inside the BLOCKED weights `dense_shape` checked.
        w[m] = unsafe { a.w.as_ptr().add(((u + m) / per_block) * b.block_len() + 4 * ((u + m) % per_block) * K::UNIT) };
    }
    // SAFETY: the caller guarantees `K`'s CPU features (# Safety).
    let ones = unsafe { K::bcast(i32::from_ne_bytes([(1 - K::X_ADD) as i8 as u8; 4])) };
    // SAFETY: `K`'s CPU features (caller).
    let (mut acc, mut ws) = unsafe { ([K::zero(); MM], [K::zero(); MM]) };
    for j in 0..b.ic_groups() {
        let g4 = if j < full {
            // SAFETY: `j < full = k / 4`: bytes `4 * j..4 * j + 4` are inside `a.x`.
            unsafe { (a.x.as_ptr().add(4 * j) as *const i32).read_unaligned() }
        } else {
            i32::from_ne_bytes(last)
        };
        // SAFETY: `K`'s CPU features.
        let x = unsafe { K::bcast(g4) };
        for m in 0..MM {
            // SAFETY: `K`'s CPU features; group `j < ic_groups` of the unit's block is a row
            // of the weights.
            let wv = unsafe { K::load_w(w[m].add(j * 64)) };
            // SAFETY: `K`'s CPU features.
            unsafe {
                K::step(&mut acc[m], &wv, x);
                K::step(&mut ws[m], &wv, ones);
            }
        }
    }
    let (n_end, corr) = (n0 + y.len(), K::X_ADD.wrapping_add(a.zx));
    for m in 0..MM {
        let c0 = (u + m) * K::UNIT;
        let valid = (n_end - c0).min(K::UNIT);
        // SAFETY: `K`'s CPU features.
        let (bias, sums) = (lanes(a.bias, c0, valid), unsafe { K::sums(ws[m]) });
        let mut init = [0i32; OC_BLOCK];
        for l in 0..K::UNIT {
            init[l] = bias[l].wrapping_sub(corr.wrapping_mul(sums[l]));
        }
        // SAFETY: `K`'s CPU features.
        let r = unsafe { K::req(&init, &lanes(a.mult, c0, valid), valid, a.q) };
        // SAFETY: `K`'s CPU features; outputs `c0..c0 + valid` lie in `n0..n0 + y.len()` and
        // `store` writes only the `valid` ones.
        unsafe { K::store(acc[m], &r, y.as_mut_ptr().add(c0 - n0)) };
    }
}
