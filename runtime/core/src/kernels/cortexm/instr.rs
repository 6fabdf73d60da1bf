//! The four Armv7E-M DSP instructions the int8 kernels are built from, as safe functions.
//!
//! On a DSP target (`cfg(kestrel_arm_dsp)`) each is one instruction in `asm!`: the
//! `core::arch::arm` DSP intrinsics are unstable on the rustc we build with. Elsewhere
//! (the host's unit tests) they are portable Rust with the same results, so the kernels'
//! logic is checked by `cargo test` and the instructions under qemu-system-arm
//! (`scripts/cortex-m-kernel-test.sh`).
//!
//! A word holds 4 int8 values `[b0, b1, b2, b3]` (little endian); "halves" are the two
//! 16-bit lanes of a word, low first.

/// `sxtb16 d, w`: halves `[sext(b0), sext(b2)]`.
#[inline(always)]
pub(super) fn sxtb16(w: u32) -> u32 {
    #[cfg(kestrel_arm_dsp)]
    {
        let d: u32;
        // SAFETY: `sxtb16` exists on every Armv7E-M core (what `kestrel_arm_dsp` means); it
        // reads and writes only the named registers and leaves memory and flags alone.
        unsafe {
            core::arch::asm!("sxtb16 {d}, {w}", d = lateout(reg) d, w = in(reg) w, options(pure, nomem, nostack, preserves_flags));
        }
        d
    }
    #[cfg(not(kestrel_arm_dsp))]
    {
        halves(w as u8 as i8 as i32, (w >> 16) as u8 as i8 as i32)
    }
}

/// `sxtb16 d, w, ror #8`: halves `[sext(b1), sext(b3)]`.
#[inline(always)]
pub(super) fn sxtb16_ror8(w: u32) -> u32 {
    #[cfg(kestrel_arm_dsp)]
    {
        let d: u32;
        // SAFETY: as `sxtb16` (the rotation is part of the instruction).
        unsafe {
            core::arch::asm!("sxtb16 {d}, {w}, ror #8", d = lateout(reg) d, w = in(reg) w, options(pure, nomem, nostack, preserves_flags));
        }
        d
    }
    #[cfg(not(kestrel_arm_dsp))]
    {
        sxtb16(w.rotate_right(8))
    }
}

/// `sxtab16 d, a, w`: halves `[a.lo + sext(b0), a.hi + sext(b2)]` (each mod 2^16).
#[inline(always)]
pub(super) fn sxtab16(a: u32, w: u32) -> u32 {
    #[cfg(kestrel_arm_dsp)]
    {
        let d: u32;
        // SAFETY: as `sxtb16`.
        unsafe {
            core::arch::asm!("sxtab16 {d}, {a}, {w}", d = lateout(reg) d, a = in(reg) a, w = in(reg) w, options(pure, nomem, nostack, preserves_flags));
        }
        d
    }
    #[cfg(not(kestrel_arm_dsp))]
    {
        add16(a, sxtb16(w))
    }
}

/// `sxtab16 d, a, w, ror #8`: halves `[a.lo + sext(b1), a.hi + sext(b3)]` (each mod 2^16).
#[inline(always)]
pub(super) fn sxtab16_ror8(a: u32, w: u32) -> u32 {
    #[cfg(kestrel_arm_dsp)]
    {
        let d: u32;
        // SAFETY: as `sxtb16`.
        unsafe {
            core::arch::asm!("sxtab16 {d}, {a}, {w}, ror #8", d = lateout(reg) d, a = in(reg) a, w = in(reg) w, options(pure, nomem, nostack, preserves_flags));
        }
        d
    }
    #[cfg(not(kestrel_arm_dsp))]
    {
        add16(a, sxtb16_ror8(w))
    }
}

/// `smlad d, a, b, acc`: `acc + a.lo * b.lo + a.hi * b.hi` (signed halves), mod 2^32. On
/// overflow the instruction also sets the Q flag, which nothing here reads.
#[inline(always)]
pub(super) fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(kestrel_arm_dsp)]
    {
        let d: i32;
        // SAFETY: `smlad` exists on every Armv7E-M core; it reads and writes only the named
        // registers and the sticky Q flag (so no `preserves_flags`), never memory.
        unsafe {
            core::arch::asm!("smlad {d}, {a}, {b}, {c}", d = lateout(reg) d, a = in(reg) a, b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack));
        }
        d
    }
    #[cfg(not(kestrel_arm_dsp))]
    {
        let lo = (a as i16 as i32) * (b as i16 as i32);
        let hi = ((a >> 16) as i16 as i32) * ((b >> 16) as i16 as i32);
        acc.wrapping_add(lo).wrapping_add(hi)
    }
}

/// A word of two 16-bit halves (each truncated to 16 bits).
#[inline(always)]
pub(super) fn halves(lo: i32, hi: i32) -> u32 {
    (lo as u16 as u32) | ((hi as u16 as u32) << 16)
}

/// Halfword-wise wrapping add (portable `sadd16` / `sxtab16` helper).
#[cfg(not(kestrel_arm_dsp))]
#[inline(always)]
fn add16(a: u32, b: u32) -> u32 {
    halves((a as u16).wrapping_add(b as u16) as i32, ((a >> 16) as u16).wrapping_add((b >> 16) as u16) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_and_products() {
        let w = u32::from_le_bytes([0x80, 0x7f, 0xff, 0x01]); // -128, 127, -1, 1
        assert_eq!(sxtb16(w), halves(-128, -1));
        assert_eq!(sxtb16_ror8(w), halves(127, 1));
        assert_eq!(sxtab16(halves(128, 1), w), halves(0, 0));
        assert_eq!(sxtab16_ror8(halves(128, -1), w), halves(255, 0));
        assert_eq!(smlad(halves(255, -255), halves(-128, 127), 7), 7 - 255 * 128 - 255 * 127);
        assert_eq!(smlad(halves(2, 0), halves(1, 0), i32::MAX), i32::MIN + 1);
    }
}
