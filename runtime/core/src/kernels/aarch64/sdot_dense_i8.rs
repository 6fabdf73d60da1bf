//! int8 dense layer with the Armv8.2 dot product: the NEON dense driver
//! ([`dense_blocked`]) with the `sdot` step of `sdot_conv2d_i8`.

use super::common::dense_shape;
use super::neon_dense_i8::dense_blocked;
use super::sdot_conv2d_i8::Sdot;
use crate::kernels::{scalar_dense_i8, DenseI8};

/// int8 dense, NEON + dot product. Falls back to the scalar reference for other packings.
pub(super) fn sdot_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    match dense_shape(
        a.packing,
        true,
        a.x.len(),
        a.w.len(),
        &[a.bias.len(), a.mult.len()],
        n0,
        y.len(),
    ) {
        // SAFETY: reachable only through the neon-dotprod kernel set, handed out after
        // checking the CPU has the dot product; `dense_shape` checked the slices cover
        // every access.
        Some(b) => unsafe { dense_blocked::<Sdot>(a, &b, n0, y) },
        None => scalar_dense_i8(a, n0, y),
    }
}
