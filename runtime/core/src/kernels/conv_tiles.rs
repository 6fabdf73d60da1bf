//! Tile geometry both conv drivers (`conv_driver_i8.rs`, `conv_driver_f32.rs`) share: which
//! output pixels have every tap inside the input, how many pixels the next tile takes, and
//! where a pixel's tap lies in the input.

use crate::kernels::Geom;

/// Output range `lo..hi` along one axis whose taps all fall inside an input of `n`.
#[inline(always)]
pub(crate) fn interior(n: usize, out: usize, k: usize, s: usize, d: usize, pad: usize) -> (usize, usize) {
    let lo = pad.div_ceil(s).min(out);
    let ext = (k - 1) * d + 1;
    let hi = if n + pad < ext { 0 } else { (n + pad + 1 - ext).div_ceil(s).min(out) };
    (lo, hi.max(lo))
}

/// The pixels of the next tile when `r` are left and tiles hold up to `n` (1, 2, 4 or 6):
/// `n`, else the largest of 4, 2, 1 that fits.
#[inline(always)]
pub(crate) fn tile_len(n: usize, r: usize) -> usize {
    if r >= n {
        n
    } else if r >= 4 {
        4
    } else if r >= 2 {
        2
    } else {
        1
    }
}

/// Input offset (element index, channel `ic_off` of the pixel) of tap `(ky, kx)` of each
/// output pixel `px[p] = (oy, ox)`; `usize::MAX` where the tap falls in the padding.
#[inline(always)]
pub(crate) fn tap_offsets<const NN: usize>(g: &Geom, px: &[(usize, usize); NN], ky: usize, kx: usize, ic_off: usize) -> [usize; NN] {
    let mut off = [usize::MAX; NN];
    for (p, &(oy, ox)) in px.iter().enumerate() {
        let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
        let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
        if iy >= 0 && (iy as usize) < g.ih && ix >= 0 && (ix as usize) < g.iw {
            off[p] = (iy as usize * g.iw + ix as usize) * g.ic + ic_off;
        }
    }
    off
}
