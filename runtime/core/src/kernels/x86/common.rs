//! The x86 kernels' own helpers (store masks); the argument checks every SIMD kernel shares
//! are in `kernels/simd_args.rs`.

use crate::format::packing::OC_BLOCK;

/// Store mask of a block with `valid` real lanes.
pub(super) fn lane_mask(valid: usize) -> u16 {
    if valid >= OC_BLOCK { u16::MAX } else { (1u16 << valid) - 1 }
}
