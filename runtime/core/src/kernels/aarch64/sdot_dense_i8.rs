//! int8 dense layer with the Armv8.2 dot product: the shared dense driver (through
//! `neon_dense_i8`'s [`tiles`]) with the `sdot` step of `sdot_conv2d_i8`.

use super::neon_dense_i8::tiles;
use super::sdot_conv2d_i8::Sdot;
use crate::kernels::dense_driver_i8 as driver;
use crate::kernels::DenseI8;

/// int8 dense, NEON + dot product. Falls back to the scalar reference for other packings.
pub(super) fn sdot_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    // SAFETY: reachable only through the neon-dotprod kernel set, handed out after
    // checking the CPU has the dot product (`tiles::<Sdot>` runs `sdot`).
    unsafe { driver::blocked_or_scalar(a, n0, y, tiles::<Sdot>) }
}
