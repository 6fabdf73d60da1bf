//! The max-pool driver every SIMD set shares, for int8 and f32 alike: argument checks,
//! window positions (a table of tap offsets for windows inside the input, the valid taps
//! gathered at the border), `LANES` channels per instruction and the channel tail (a
//! full-width load where it stays inside the input, scalar where it wouldn't). A kernel set
//! supplies the lane operations ([`MaxLanes`]) and a `#[target_feature]` entry that
//! instantiates [`maxpool`] (everything here is `#[inline(always)]`).
//!
//! Bit-exact with the reference: int8 max is exact, and the lane max must return the
//! accumulator when the new value is NaN, as the reference's `acc.max(v)` does (the
//! accumulator, starting at `MIN`, never is).

use crate::kernels::Geom;

/// One set's max-pool lane operations for element type `T`.
///
/// # Safety
/// Implementations' methods may only be called where the CPU has their instructions, and
/// with pointers valid for `LANES` elements (`load` reads them, `store` writes them).
pub(crate) trait MaxLanes {
    /// The element (i8 or f32).
    type T: Copy + PartialOrd;
    /// `LANES` elements in a register.
    type V: Copy;
    /// Elements per register.
    const LANES: usize;
    /// The identity of max (`i8::MIN`, `-inf`).
    const MIN: Self::T;
    /// `MIN` in every lane.
    unsafe fn splat_min() -> Self::V;
    /// `LANES` elements from `p`.
    unsafe fn load(p: *const Self::T) -> Self::V;
    /// Lane-wise max; `acc` where `v` is NaN.
    unsafe fn max(acc: Self::V, v: Self::V) -> Self::V;
    /// Store `LANES` elements at `p`.
    unsafe fn store(p: *mut Self::T, v: Self::V);
    /// `acc.max(v)` of one element (the reference's rule).
    fn max1(acc: Self::T, v: Self::T) -> Self::T;
}

/// The arguments a pool kernel relies on: consistent geometry, at most 64 taps, slices
/// long enough.
pub(crate) fn pool_ok(g: &Geom, x_len: usize, oy0: usize, y_len: usize) -> bool {
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
    let inside = iy0 >= 0 && ix0 >= 0 && iy0 as usize + (g.kh - 1) * g.dh < g.ih && ix0 as usize + (g.kw - 1) * g.dw < g.iw;
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

/// Max pool of output rows `oy0..` into `y` with lane operations `L`.
///
/// # Safety
/// The CPU has `L`'s instructions and [`pool_ok`] holds for the arguments.
#[inline(always)]
pub(crate) unsafe fn maxpool<L: MaxLanes>(g: &Geom, x: &[L::T], oy0: usize, y: &mut [L::T]) {
    let (c, n) = (g.ic, L::LANES);
    let rows = y.len() / (g.ow * c);
    let mut offs = [0usize; 64];
    // The taps' offsets from a window's corner.
    let mut toff = [0usize; 64];
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            toff[ky * g.kw + kx] = (ky * g.dh * g.iw + kx * g.dw) * g.ic;
        }
    }
    let toff = &toff[..g.kh * g.kw];
    let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
    // Only called below with `base + o + ch + LANES <= x.len()` for every `o` in `pos`.
    let lanes = |base: usize, pos: &[usize], ch: usize| {
        // SAFETY: the caller guarantees `L`'s CPU features (# Safety).
        let mut acc = unsafe { L::splat_min() };
        for &o in pos {
            // SAFETY: `L`'s CPU features; the `LANES` elements at `base + o + ch` are inside
            // `x` (every call below ensures it).
            acc = unsafe { L::max(acc, L::load(xp.add(base + o + ch))) };
        }
        acc
    };
    for oy in oy0..oy0 + rows {
        for ox in 0..g.ow {
            let (base, pos) = window(g, oy, ox, toff, &mut offs);
            let at = ((oy - oy0) * g.ow + ox) * c;
            let mut ch = 0;
            while ch + n <= c {
                // SAFETY: `L`'s CPU features; `ch + LANES <= c`, so the window's reads stay in
                // its pixels' channels inside `x` and the store in this pixel's outputs of `y`
                // (`pool_ok`, # Safety).
                unsafe { L::store(yp.add(at + ch), lanes(base, pos, ch)) };
                ch += n;
            }
            if ch == c {
                continue;
            }
            // Channel tail (all of it when c < LANES): full-width loads wherever they stay
            // inside the input; the lanes past this pixel's channels land on later pixels
            // of this part (written after it) or, at the end, are dropped.
            let far = pos.iter().max().map_or(usize::MAX, |&o| base + o + ch + n);
            if far <= x.len() {
                let acc = lanes(base, pos, ch);
                if at + ch + n <= y.len() {
                    // SAFETY: `L`'s CPU features; `at + ch + LANES <= y.len()`.
                    unsafe { L::store(yp.add(at + ch), acc) };
                } else {
                    let mut tmp = [L::MIN; 64];
                    // SAFETY: `L`'s CPU features; `tmp` holds 64 >= LANES elements.
                    unsafe { L::store(tmp.as_mut_ptr(), acc) };
                    y[at + ch..at + c].copy_from_slice(&tmp[..c - ch]);
                }
            } else {
                for i in ch..c {
                    y[at + i] = pos.iter().fold(L::MIN, |m, &o| L::max1(m, x[base + o + i]));
                }
            }
        }
    }
}
