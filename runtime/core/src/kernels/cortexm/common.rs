//! What the `dsp` conv/dense kernels check before they read through raw pointers (as the
//! x86 kernels do, see `x86/common.rs`), plus one more condition: the input zero point is
//! an int8 value, so `x - zx` fits a signed halfword. When a check fails the kernel calls
//! the scalar reference, which indexes slices.

use crate::format::packing::{self, Blocked, OC_BLOCK};
use crate::kernels::Geom;

/// Checks the arguments of an int8 conv kernel: BLOCKED packing, consistent geometry,
/// `zx` in int8 range, and slices long enough for every read and write. Returns the packed
/// shape.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_shape(g: &Geom, pk: u8, zx: i32, x_len: usize, w_len: usize, per_oc: &[usize], oy0: usize, y_len: usize) -> Option<Blocked> {
    if pk != packing::BLOCKED || !(-128..=127).contains(&zx) || g.groups == 0 || g.oc == 0 || g.ic == 0 {
        return None;
    }
    if !g.ic.is_multiple_of(g.groups) || !g.oc.is_multiple_of(g.groups) || [g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.ow].contains(&0) {
        return None;
    }
    let x_need = g.ih.checked_mul(g.iw)?.checked_mul(g.ic)?;
    let b = Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, true);
    let row = g.ow.checked_mul(g.oc)?;
    let rows = y_len / row;
    let ok = x_len >= x_need
        && w_len >= b.elements()?
        && per_oc.iter().all(|&n| n >= g.oc)
        && y_len.is_multiple_of(row)
        && oy0.checked_add(rows)? <= g.oh
        // Offsets stay far from overflow: every tap coordinate fits comfortably in isize.
        && g.oh.max(g.ih).max(g.iw).max(g.ow) < 1 << 24
        && g.kh.max(g.kw).max(g.sh).max(g.sw).max(g.dh).max(g.dw).max(g.pt).max(g.pl) < 1 << 16;
    ok.then_some(b)
}

/// Checks the arguments of an int8 dense kernel (`k` inputs; outputs `n0..n0 + y_len` of
/// `min(per_n)`). Returns the packed shape.
pub(super) fn dense_shape(pk: u8, zx: i32, k: usize, w_len: usize, per_n: &[usize], n0: usize, y_len: usize) -> Option<Blocked> {
    let n = *per_n.iter().min()?;
    if pk != packing::BLOCKED || !(-128..=127).contains(&zx) || k == 0 || n == 0 || !n0.is_multiple_of(OC_BLOCK) || n0.checked_add(y_len)? > n {
        return None;
    }
    let b = Blocked::dense(n, k, true);
    (w_len >= b.elements()?).then_some(b)
}
