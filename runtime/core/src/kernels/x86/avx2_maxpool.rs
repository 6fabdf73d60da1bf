//! AVX2 max pooling (int8 and f32): 32 int8 / 8 f32 channels per instruction over the
//! window's valid positions; channel tails with a full-width load where it stays inside
//! the input, in scalar where it wouldn't. Bit-exact with the reference: int8
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

/// The valid window positions of output pixel (oy, ox) as `base + list[i]` (first channel):
/// for a window fully inside the input, `(corner, toff)`; otherwise `(0, offs[..n])` with
/// `offs` filled here.
#[inline(always)]
fn window<'a>(g: &Geom, oy: usize, ox: usize, toff: &'a [usize], offs: &'a mut [usize; 64]) -> (usize, &'a [usize]) {
    let (iy0, ix0) = ((oy * g.sh) as isize - g.pt as isize, (ox * g.sw) as isize - g.pl as isize);
    let inside = iy0 >= 0
        && ix0 >= 0
        && iy0 as usize + (g.kh - 1) * g.dh < g.ih
        && ix0 as usize + (g.kw - 1) * g.dw < g.iw;
    if inside {
        return ((iy0 as usize * g.iw + ix0 as usize) * g.ic, toff);
    }
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
    (0, &offs[..n])
}

/// The taps' offsets from a window's corner (`kh * kw <= 64`).
fn tap_offsets(g: &Geom, toff: &mut [usize; 64]) -> usize {
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            toff[ky * g.kw + kx] = (ky * g.dh * g.iw + kx * g.dw) * g.ic;
        }
    }
    g.kh * g.kw
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
    let mut toff = [0usize; 64];
    let taps = tap_offsets(g, &mut toff);
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let (base, pos) = window(g, oy, ox, &toff[..taps], &mut offs);
            let at = ((oy - oy0) * g.ow + ox) * c;
            let mut ch = 0;
            while ch + 32 <= c {
                let mut acc = _mm256_set1_epi8(i8::MIN);
                for &o in pos {
                    acc = _mm256_max_epi8(acc, _mm256_loadu_si256(xp.add(base + o + ch) as *const _));
                }
                _mm256_storeu_si256(yp.add(at + ch) as *mut _, acc);
                ch += 32;
            }
            if ch == c {
                continue;
            }
            // Channel tail (all of it when c < 32): full-width loads wherever they stay
            // inside the input; the lanes past this pixel's channels land on later pixels
            // of this part (written after it) or, at the end, are dropped.
            let far = pos.iter().max().map_or(usize::MAX, |&o| base + o + ch + 32);
            if far <= x.len() {
                let mut acc = _mm256_set1_epi8(i8::MIN);
                for &o in pos {
                    acc = _mm256_max_epi8(acc, _mm256_loadu_si256(xp.add(base + o + ch) as *const _));
                }
                if at + ch + 32 <= y.len() {
                    _mm256_storeu_si256(yp.add(at + ch) as *mut _, acc);
                } else {
                    let mut tmp = [0i8; 32];
                    _mm256_storeu_si256(tmp.as_mut_ptr() as *mut _, acc);
                    y[at + ch..at + c].copy_from_slice(&tmp[..c - ch]);
                }
            } else {
                for i in ch..c {
                    y[at + i] = pos.iter().fold(i8::MIN, |m, &o| m.max(x[base + o + i]));
                }
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
    let mut toff = [0usize; 64];
    let taps = tap_offsets(g, &mut toff);
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let (base, pos) = window(g, oy, ox, &toff[..taps], &mut offs);
            let at = ((oy - oy0) * g.ow + ox) * c;
            let mut ch = 0;
            while ch + 8 <= c {
                let mut acc = _mm256_set1_ps(f32::NEG_INFINITY);
                for &o in pos {
                    acc = _mm256_max_ps(_mm256_loadu_ps(xp.add(base + o + ch)), acc);
                }
                _mm256_storeu_ps(yp.add(at + ch), acc);
                ch += 8;
            }
            if ch == c {
                continue;
            }
            let far = pos.iter().max().map_or(usize::MAX, |&o| base + o + ch + 8);
            if far <= x.len() {
                let mut acc = _mm256_set1_ps(f32::NEG_INFINITY);
                for &o in pos {
                    acc = _mm256_max_ps(_mm256_loadu_ps(xp.add(base + o + ch)), acc);
                }
                if at + ch + 8 <= y.len() {
                    _mm256_storeu_ps(yp.add(at + ch), acc);
                } else {
                    let mut tmp = [0f32; 8];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), acc);
                    y[at + ch..at + c].copy_from_slice(&tmp[..c - ch]);
                }
            } else {
                for i in ch..c {
                    y[at + i] = pos.iter().fold(f32::NEG_INFINITY, |m, &o| m.max(x[base + o + i]));
                }
            }
        }
    }
}
