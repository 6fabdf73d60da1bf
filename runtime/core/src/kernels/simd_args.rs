//! Argument checks and helpers shared by the x86 and aarch64 SIMD kernels: what every
//! conv/dense kernel checks before it touches memory through raw pointers.
//!
//! The kernels are safe functions: [`conv_shape`] / [`dense_shape`] verify in O(1) that the
//! arguments are consistent (slice lengths, geometry); when they aren't, or the packing
//! isn't BLOCKED, the kernel calls the scalar reference instead, which indexes slices
//! (and so panics rather than reading out of bounds).

use crate::format::packing::{self, Blocked, OC_BLOCK};
use crate::kernels::Geom;

/// Input channels per broadcast chunk: a kernel re-aims its per-pixel input pointers every
/// `CHUNK` packed groups, so a padded tap can point at a `CHUNK`-group buffer of zero-point
/// values instead of being skipped.
pub(crate) const CHUNK: usize = 256;

/// Checks the arguments of a conv kernel: BLOCKED packing, consistent geometry, and slices
/// long enough for every read and write. Returns the packed shape.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_shape(g: &Geom, pk: u8, int8: bool, x_len: usize, w_len: usize, per_oc: &[usize], oy0: usize, y_len: usize) -> Option<Blocked> {
    if pk != packing::BLOCKED || g.groups == 0 || !g.ic.is_multiple_of(g.groups) || !g.oc.is_multiple_of(g.groups) || g.oc == 0 || g.ic == 0 {
        return None;
    }
    if [g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.ow].contains(&0) {
        return None;
    }
    let x_need = g.ih.checked_mul(g.iw)?.checked_mul(g.ic)?;
    let b = Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, int8);
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

/// Checks the arguments of a dense kernel (`n` outputs of `k` inputs, outputs `n0..` into
/// `y_len` elements). Returns the packed shape.
pub(crate) fn dense_shape(pk: u8, int8: bool, k: usize, w_len: usize, per_n: &[usize], n0: usize, y_len: usize) -> Option<Blocked> {
    let n = *per_n.iter().min()?;
    if pk != packing::BLOCKED || k == 0 || n == 0 || !n0.is_multiple_of(OC_BLOCK) || n0.checked_add(y_len)? > n {
        return None;
    }
    let b = Blocked::dense(n, k, int8);
    (w_len >= b.elements()?).then_some(b)
}

/// `v[c0..c0 + valid]` (at most 16) in a 16-lane array, padded lanes default (zero).
pub(crate) fn lanes<T: Copy + Default>(v: &[T], c0: usize, valid: usize) -> [T; OC_BLOCK] {
    let mut o = [T::default(); OC_BLOCK];
    let n = valid.min(OC_BLOCK);
    o[..n].copy_from_slice(&v[c0..c0 + n]);
    o
}

