//! What the `dsp` conv/dense kernels check before they read through raw pointers: the
//! checks every SIMD kernel makes (`kernels/simd_args.rs`), plus one more condition: the
//! input zero point is an int8 value, so `x - zx` fits a signed halfword. When a check
//! fails the kernel calls the scalar reference, which indexes slices.

use crate::format::packing::Blocked;
use crate::kernels::{simd_args, Geom};

/// Checks the arguments of an int8 conv kernel ([`simd_args::conv_shape`]) and that `zx`
/// is in int8 range. Returns the packed shape.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_shape(g: &Geom, pk: u8, zx: i32, x_len: usize, w_len: usize, per_oc: &[usize], oy0: usize, y_len: usize) -> Option<Blocked> {
    if !(-128..=127).contains(&zx) {
        return None;
    }
    simd_args::conv_shape(g, pk, true, x_len, w_len, per_oc, oy0, y_len)
}

/// Checks the arguments of an int8 dense kernel ([`simd_args::dense_shape`]) and that `zx`
/// is in int8 range. Returns the packed shape.
pub(super) fn dense_shape(pk: u8, zx: i32, k: usize, w_len: usize, per_n: &[usize], n0: usize, y_len: usize) -> Option<Blocked> {
    if !(-128..=127).contains(&zx) {
        return None;
    }
    simd_args::dense_shape(pk, true, k, w_len, per_n, n0, y_len)
}
