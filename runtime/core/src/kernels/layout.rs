//! Where a weight lives in a conv/dense blob, for each packing the file may record
//! ([`crate::format::packing`]). The scalar references read every packing through this, so
//! exactness tests compare kernels on the same bytes.

use crate::format::packing::{self, Blocked};

/// A conv/dense weight layout: PLAIN (`[oc][tap][icg]`) or BLOCKED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WLayout {
    /// `[oc][taps][icg]`.
    Plain {
        /// Kernel taps (kh * kw; 1 for dense).
        taps: usize,
        /// Input channels per group (k for dense).
        icg: usize,
    },
    /// [`packing::BLOCKED`].
    Blocked(Blocked),
}

impl WLayout {
    /// The layout of a conv's weights under `packing` (only PLAIN and BLOCKED exist; the
    /// validator refuses other values before a kernel runs).
    pub fn conv(packing: u8, oc: usize, ic: usize, kh: usize, kw: usize, groups: usize, int8: bool) -> WLayout {
        if packing == packing::BLOCKED {
            WLayout::Blocked(Blocked::conv(oc, ic, kh, kw, groups, int8))
        } else {
            WLayout::Plain { taps: kh * kw, icg: ic / groups.max(1) }
        }
    }

    /// The layout of a dense layer's weights (`n` outputs, `k` inputs) under `packing`.
    pub fn dense(packing: u8, n: usize, k: usize, int8: bool) -> WLayout {
        WLayout::conv(packing, n, k, 1, 1, 1, int8)
    }

    /// Length of the contiguous runs of input channels: reading `run()` channels from
    /// [`WLayout::index`] onwards (not past the group's last channel) stays in one run.
    #[inline(always)]
    pub fn run(&self) -> usize {
        match self {
            WLayout::Plain { icg, .. } => (*icg).max(1),
            WLayout::Blocked(b) => b.ig,
        }
    }

    /// Element index of output channel `oc`, tap `tap`, input channel `ci` of its group.
    #[inline(always)]
    pub fn index(&self, oc: usize, tap: usize, ci: usize) -> usize {
        match self {
            WLayout::Plain { taps, icg } => (oc * taps + tap) * icg + ci,
            WLayout::Blocked(b) => b.index(oc, tap, ci),
        }
    }
}

/// Pack `[oc][taps][icg]` weights into [`packing::BLOCKED`] in `out` (exactly
/// `b.elements()` long; padding is zeroed). The compiler and the kernel tests and
/// benchmarks all pack through this, so they produce the bytes kernels read.
pub fn pack_blocked_into<T: Copy + Default>(plain: &[T], b: &Blocked, out: &mut [T]) {
    out.fill(T::default());
    let oc = b.groups * b.ocg;
    for o in 0..oc {
        for t in 0..b.taps {
            for c in 0..b.icg {
                out[b.index(o, t, c)] = plain[(o * b.taps + t) * b.icg + c];
            }
        }
    }
}

/// [`pack_blocked_into`] a new vector.
#[cfg(any(test, feature = "writer"))]
pub fn pack_blocked<T: Copy + Default>(plain: &[T], b: &Blocked) -> alloc::vec::Vec<T> {
    let mut out = alloc::vec![T::default(); b.elements().unwrap_or(0)];
    pack_blocked_into(plain, b, &mut out);
    out
}
