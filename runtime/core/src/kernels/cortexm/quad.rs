//! The inner loop of the `dsp` int8 kernels: one input vector (a pixel's channels at one
//! tap, or a dense layer's inputs) against 4 output channels of a BLOCKED weight block.
//!
//! A packed group is 4 input channels: one 32-bit word of the input, and for each output
//! channel one 32-bit word of the 64-byte weight row. The input word is split into its
//! even and odd bytes and moved by the zero point in one step each (`sxtab16` with halves
//! of `-zx`, plain and `ror #8`), giving `x - zx` as signed halfwords (|x - zx| <= 255);
//! each weight word is split the same way (`sxtb16`) and two `smlad`s add its 4 products.
//! Summing `(x - zx) * w` directly (as the reference's definition reads) means padded
//! taps are simply skipped and no weight sums are needed; bytes of the last, partial group
//! past the channel count are read as zero and meet zero weights anyway.

use super::instr::{smlad, sxtab16, sxtab16_ror8, sxtb16, sxtb16_ror8};

/// Adds `Σ_c (x[c] - zx) * w[lane][c]` to `acc[lane]` for the 4 lanes whose weight words
/// start at `w` (row `j` of the block at `w + 64 j`), over `n` input channels at `x`.
/// `nzx` is `halves(-zx, -zx)`. Sums wrap (two's complement), as the reference's do.
///
/// # Safety
/// `x` is readable for `n` bytes, and `w` for `16` bytes at each of `n.div_ceil(4)` rows
/// 64 bytes apart.
#[inline(always)]
pub(super) unsafe fn quad(x: *const i8, n: usize, nzx: u32, w: *const i8, acc: &mut [i32; 4]) {
    let mut s = *acc;
    let full = n / 4;
    let mut xp = x;
    let mut wr = w;
    // SAFETY: one past the last full group of the `n` readable bytes.
    let x_end = unsafe { x.add(4 * full) };
    while xp < x_end {
        // SAFETY: a full group below `x_end` lies within the `n` readable bytes at `x`.
        let xw = unsafe { (xp as *const u32).read_unaligned() };
        // SAFETY: this is row j < n / 4, which has 16 readable bytes (caller's contract).
        unsafe { step(sxtab16(nzx, xw), sxtab16_ror8(nzx, xw), wr, &mut s) };
        // SAFETY: ends at `x_end`, at most one past the `n` readable bytes.
        xp = unsafe { xp.add(4) };
        // The next row; past the last row this may leave the weight slice (the column
        // offset of `w`), so the address is only computed, never dereferenced.
        wr = wr.wrapping_add(64);
    }
    let rem = n % 4;
    if rem != 0 {
        // The partial group: bytes past `n` read as 0 and get no `-zx`, so they add 0
        // whatever the padding weights hold (the reference never reads those weights).
        let mut xw = 0u32;
        for i in 0..rem {
            // SAFETY: byte 4 * full + i < n is readable.
            xw |= (unsafe { *x_end.add(i) } as u8 as u32) << (8 * i);
        }
        let even = if rem > 2 { nzx } else { nzx & 0xffff };
        let odd = if rem > 1 { nzx & 0xffff } else { 0 };
        // SAFETY: the last row (index full < n.div_ceil(4)) has 16 readable bytes at `wr`.
        unsafe { step(sxtab16(even, xw), sxtab16_ror8(odd, xw), wr, &mut s) };
    }
    *acc = s;
}

/// One packed group: `acc[l] += e · even(w_l) + o · odd(w_l)` for the 4 lanes at `w`.
///
/// # Safety
/// `w` is readable for 16 bytes.
#[inline(always)]
unsafe fn step(e: u32, o: u32, w: *const i8, acc: &mut [i32; 4]) {
    for (l, a) in acc.iter_mut().enumerate() {
        // SAFETY: lane l < 4 reads bytes 4l..4l + 4 of the 16 readable at `w`.
        let ww = unsafe { (w.add(4 * l) as *const u32).read_unaligned() };
        *a = smlad(o, sxtb16_ror8(ww), smlad(e, sxtb16(ww), *a));
    }
}
