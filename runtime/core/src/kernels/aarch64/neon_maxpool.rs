//! NEON max pooling (int8 and f32): 16 (then 8) int8 / 4 f32 channels per instruction over
//! the window's valid positions, the remaining channels in scalar. Bit-exact with the
//! reference: int8 max is exact, and `fmaxnm(acc, v)` returns `acc` when `v` is NaN, as the
//! reference's `acc.max(v)` does.

use core::arch::aarch64::*;

use crate::kernels::{scalar_maxpool_f32, scalar_maxpool_i8, Geom};

/// The arguments a pool kernel relies on: consistent geometry, slices long enough.
fn pool_ok(g: &Geom, x_len: usize, oy0: usize, y_len: usize) -> bool {
    let row = g.ow.checked_mul(g.ic);
    let x_need = g.ih.checked_mul(g.iw).and_then(|v| v.checked_mul(g.ic));
    match (row, x_need) {
        (Some(row), Some(xn)) if row > 0 => {
            ![g.kh, g.kw, g.sh, g.sw, g.dh, g.dw].contains(&0)
                && g.kh.checked_mul(g.kw).is_some_and(|t| t <= 64)
                && x_len >= xn
                && y_len.is_multiple_of(row)
                && oy0.checked_add(y_len / row).is_some_and(|e| e <= g.oh)
                && g.oh.max(g.ih).max(g.iw).max(g.ow) < 1 << 24
                && g.kh
                    .max(g.kw)
                    .max(g.sh)
                    .max(g.sw)
                    .max(g.dh)
                    .max(g.dw)
                    .max(g.pt)
                    .max(g.pl)
                    < 1 << 16
        }
        _ => false,
    }
}

/// The input offsets (first channel) of the valid window positions of output pixel
/// (oy, ox), into `offs`; returns how many.
#[inline(always)]
fn window(g: &Geom, oy: usize, ox: usize, offs: &mut [usize; 64]) -> usize {
    let (iy0, ix0) = (
        (oy * g.sh) as isize - g.pt as isize,
        (ox * g.sw) as isize - g.pl as isize,
    );
    let mut n = 0;
    for ky in 0..g.kh {
        let iy = iy0 + (ky * g.dh) as isize;
        if iy < 0 || iy >= g.ih as isize {
            continue;
        }
        for kx in 0..g.kw {
            let ix = ix0 + (kx * g.dw) as isize;
            if ix < 0 || ix >= g.iw as isize {
                continue;
            }
            offs[n] = (iy as usize * g.iw + ix as usize) * g.ic;
            n += 1;
        }
    }
    n
}

/// int8 max pool, NEON.
pub(super) fn neon_maxpool_i8(g: &Geom, x: &[i8], oy0: usize, y: &mut [i8]) {
    if !pool_ok(g, x.len(), oy0, y.len()) {
        return scalar_maxpool_i8(g, x, oy0, y);
    }
    let c = g.ic;
    let rows = y.len() / (g.ow * c);
    let mut offs = [0usize; 64];
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let n = window(g, oy, ox, &mut offs);
            let pos = &offs[..n];
            let at = ((oy - oy0) * g.ow + ox) * c;
            let mut ch = 0;
            while ch + 16 <= c {
                // SAFETY: `pool_ok` checked that every valid position's pixel
                // (`o + c <= x.len()`) and the output rows (`at + c <= y.len()`) are in
                // bounds, and `ch + 16 <= c`.
                unsafe {
                    let mut acc = vdupq_n_s8(i8::MIN);
                    for &o in pos {
                        acc = vmaxq_s8(acc, vld1q_s8(xp.add(o + ch)));
                    }
                    vst1q_s8(yp.add(at + ch), acc);
                }
                ch += 16;
            }
            if ch + 8 <= c {
                // SAFETY: as above, with `ch + 8 <= c`.
                unsafe {
                    let mut acc = vdup_n_s8(i8::MIN);
                    for &o in pos {
                        acc = vmax_s8(acc, vld1_s8(xp.add(o + ch)));
                    }
                    vst1_s8(yp.add(at + ch), acc);
                }
                ch += 8;
            }
            for i in ch..c {
                y[at + i] = pos.iter().fold(i8::MIN, |m, &o| m.max(x[o + i]));
            }
        }
    }
}

/// f32 max pool, NEON.
pub(super) fn neon_maxpool_f32(g: &Geom, x: &[f32], oy0: usize, y: &mut [f32]) {
    if !pool_ok(g, x.len(), oy0, y.len()) {
        return scalar_maxpool_f32(g, x, oy0, y);
    }
    let c = g.ic;
    let rows = y.len() / (g.ow * c);
    let mut offs = [0usize; 64];
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let n = window(g, oy, ox, &mut offs);
            let pos = &offs[..n];
            let at = ((oy - oy0) * g.ow + ox) * c;
            let mut ch = 0;
            while ch + 4 <= c {
                // SAFETY: `pool_ok` checked that every valid position's pixel and the output
                // rows are in bounds, and `ch + 4 <= c`.
                unsafe {
                    let mut acc = vdupq_n_f32(f32::NEG_INFINITY);
                    for &o in pos {
                        acc = vmaxnmq_f32(acc, vld1q_f32(xp.add(o + ch)));
                    }
                    vst1q_f32(yp.add(at + ch), acc);
                }
                ch += 4;
            }
            for i in ch..c {
                y[at + i] = pos.iter().fold(f32::NEG_INFINITY, |m, &o| m.max(x[o + i]));
            }
        }
    }
}
