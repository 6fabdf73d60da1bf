//! int8 average pooling (AveragePool, GlobalAveragePool) on the channel-lane driver
//! ([`super::channel_lanes`]), which each SIMD kernel set runs compiled with its target
//! features. (The f32 reference already runs over whole channel rows, which LLVM
//! vectorizes; the SIMD sets compile it with their target features instead.)
//!
//! Exactness: the window's int8 values are summed in i32 lanes, exact while the window
//! holds at most 2^24 positions (|sum| < 2^31; larger windows take the reference); padded
//! positions counted by `count_include_pad` add the zero point, and the division rounds
//! half to even (through an f64 quotient that is provably close enough, see
//! [`div_round`]), lane by lane, as the reference does in integers.

// Used by the x86_64, aarch64 and Cortex-M (DSP) kernel sets; other targets build it unused.
#![cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64", kestrel_arm_dsp)), allow(dead_code))]

// Lane loops over fixed-size arrays are what LLVM vectorizes.
#![allow(clippy::needless_range_loop)]

use super::channel_lanes::{self, LaneOp, CB};
use super::Geom;

/// Largest window (positions) whose int8 sum stays exact in i32.
const MAX_WINDOW: usize = 1 << 24;

/// The pool's state: what the finish needs besides the sums.
struct AvgI8 {
    count_include_pad: bool,
    zx: i32,
    window: usize,
}

impl LaneOp for AvgI8 {
    type X = i8;
    type Acc = i32;
    type Y = i8;
    fn block(&mut self, _c0: usize, _n: usize) {}
    #[inline(always)]
    fn init(&self) -> [i32; CB] {
        [0; CB]
    }
    #[inline(always)]
    fn step(&self, acc: &mut [i32; CB], x: &[i8; CB], _t: usize) {
        for j in 0..CB {
            acc[j] += x[j] as i32;
        }
    }
    #[inline(always)]
    fn finish(&self, acc: &[i32; CB], valid: usize) -> [i8; CB] {
        let cnt = if self.count_include_pad { self.window } else { valid }.max(1);
        let extra = ((cnt - valid.min(cnt)) as i64 * self.zx as i64) as f64;
        let mut out = [0i8; CB];
        for j in 0..CB {
            out[j] = div_round(acc[j] as f64 + extra, cnt as f64).clamp(-128, 127) as i8;
        }
        out
    }
}

/// int8 average pool of output rows `oy0..` into `y` (whole rows), with the scalar
/// reference where the lane kernel doesn't apply. Inlined into the x86 sets'
/// target-feature functions; NEON (aarch64's baseline) and Cortex-M use it as it is.
#[inline(always)]
pub(crate) fn lanes_avgpool_i8(g: &Geom, count_include_pad: bool, zx: i32, x: &[i8], oy0: usize, y: &mut [i8]) {
    if g.kh.saturating_mul(g.kw) > MAX_WINDOW || !channel_lanes::covers(g, x.len(), oy0, y.len()) {
        return super::scalar_avgpool_i8(g, count_include_pad, zx, x, oy0, y);
    }
    let mut op = AvgI8 { count_include_pad, zx, window: g.kh * g.kw };
    channel_lanes::run(&mut op, g, x, oy0, y);
}

/// `s / c` rounded half to even, for integers `s` (|s| < 2^53) and `0 < c <= 2^24`: the
/// f64 quotient is within 2^-46 of the true one while a true quotient that isn't a tie is
/// at least 1/(2c) >= 2^-25 from one, and ties are exact in f64, so rounding the f64
/// quotient (by adding 1.5 * 2^52) gives `div_round_half_even`'s integer. Vectorizes,
/// where integer division does not.
#[inline(always)]
fn div_round(s: f64, c: f64) -> i64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52 = 0x4338_0000_0000_0000
    ((s / c) + MAGIC).to_bits() as i64 - 0x4338_0000_0000_0000
}
