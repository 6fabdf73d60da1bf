//! AVX2 max pooling (int8 and f32): 32 int8 / 8 f32 channels per instruction over the
//! window's valid positions; channel tails in scalar. Bit-exact with the reference: int8
//! max is exact, and `vmaxps(v, acc)` returns `acc` when `v` is NaN, as the reference's
//! `acc.max(v)` does.

use core::arch::x86_64::*;

use crate::kernels::{scalar_maxpool_f32, scalar_maxpool_i8, Geom};

/// The arguments a pool kernel relies on: consistent geometry, slices long enough.
fn pool_ok(g: &Geom, x_len: usize, oy0: usize, y_len: usize) -> bool {
    let row = g.ow.checked_mul(g.ic);
    let x_need = g.ih.checked_mul(g.iw).and_then(|v| v.checked_mul(g.ic));
    match (row, x_need) {
        (Some(row), Some(xn)) if row > 0 => {
            ![g.kh, g.kw, g.sh, g.sw, g.dh, g.dw].contains(&0)
                && x_len >= xn
                && y_len.is_multiple_of(row)
                && oy0.checked_add(y_len / row).is_some_and(|e| e <= g.oh)
                && g.oh.max(g.ih).max(g.iw).max(g.ow) < 1 << 24
                && g.kh.max(g.kw).max(g.sh).max(g.sw).max(g.dh).max(g.dw).max(g.pt).max(g.pl) < 1 << 16
        }
        _ => false,
    }
}

/// Input offsets (first channel) of the valid window positions of output pixel (oy, ox).
fn window(g: &Geom, oy: usize, ox: usize, offs: &mut [usize; 64]) -> usize {
    let mut n = 0;
    for ky in 0..g.kh {
        let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
        if iy < 0 || iy >= g.ih as isize {
            continue;
        }
        for kx in 0..g.kw {
            let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
            if ix < 0 || ix >= g.iw as isize {
                continue;
            }
            offs[n] = (iy as usize * g.iw + ix as usize) * g.ic;
            n += 1;
        }
    }
    n
}

/// int8 max pool, AVX2.
pub(super) fn avx2_maxpool_i8(g: &Geom, x: &[i8], oy0: usize, y: &mut [i8]) {
    if !pool_ok(g, x.len(), oy0, y.len()) || g.kh * g.kw > 64 {
        return scalar_maxpool_i8(g, x, oy0, y);
    }
    // SAFETY: reachable only through kernel sets handed out after checking the CPU has
    // AVX2; `pool_ok` checked the slices cover every access.
    unsafe { maxpool_i8(g, x, oy0, y) }
}

/// # Safety
/// The CPU has AVX2 and `pool_ok` holds for the arguments.
#[target_feature(enable = "avx2")]
unsafe fn maxpool_i8(g: &Geom, x: &[i8], oy0: usize, y: &mut [i8]) {
    let c = g.ic;
    let rows = y.len() / (g.ow * c);
    let mut offs = [0usize; 64];
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let n = window(g, oy, ox, &mut offs);
            let yp = &mut y[((oy - oy0) * g.ow + ox) * c..][..c];
            let mut ch = 0;
            while ch + 32 <= c {
                let mut acc = _mm256_set1_epi8(i8::MIN);
                for &o in &offs[..n] {
                    acc = _mm256_max_epi8(acc, _mm256_loadu_si256(x.as_ptr().add(o + ch) as *const _));
                }
                _mm256_storeu_si256(yp.as_mut_ptr().add(ch) as *mut _, acc);
                ch += 32;
            }
            for (i, v) in yp.iter_mut().enumerate().skip(ch) {
                *v = offs[..n].iter().fold(i8::MIN, |m, &o| m.max(x[o + i]));
            }
        }
    }
}

/// f32 max pool, AVX2.
pub(super) fn avx2_maxpool_f32(g: &Geom, x: &[f32], oy0: usize, y: &mut [f32]) {
    if !pool_ok(g, x.len(), oy0, y.len()) || g.kh * g.kw > 64 {
        return scalar_maxpool_f32(g, x, oy0, y);
    }
    // SAFETY: as `avx2_maxpool_i8`.
    unsafe { maxpool_f32(g, x, oy0, y) }
}

/// # Safety
/// The CPU has AVX2 and `pool_ok` holds for the arguments.
#[target_feature(enable = "avx2")]
unsafe fn maxpool_f32(g: &Geom, x: &[f32], oy0: usize, y: &mut [f32]) {
    let c = g.ic;
    let rows = y.len() / (g.ow * c);
    let mut offs = [0usize; 64];
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let n = window(g, oy, ox, &mut offs);
            let yp = &mut y[((oy - oy0) * g.ow + ox) * c..][..c];
            let mut ch = 0;
            while ch + 8 <= c {
                let mut acc = _mm256_set1_ps(f32::NEG_INFINITY);
                for &o in &offs[..n] {
                    acc = _mm256_max_ps(_mm256_loadu_ps(x.as_ptr().add(o + ch)), acc);
                }
                _mm256_storeu_ps(yp.as_mut_ptr().add(ch), acc);
                ch += 8;
            }
            for (i, v) in yp.iter_mut().enumerate().skip(ch) {
                *v = offs[..n].iter().fold(f32::NEG_INFINITY, |m, &o| m.max(x[o + i]));
            }
        }
    }
}
