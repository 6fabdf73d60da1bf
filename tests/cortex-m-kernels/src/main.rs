//! Runs every kernel of the Cortex-M `dsp` set against the scalar reference on the real
//! instructions (qemu-system-arm, mps2-an386 = Cortex-M4F), then whole int8 models with
//! both sets. int8 results must be identical byte for byte. Reports through semihosting
//! and exits non-zero on any mismatch (`scripts/cortex-m-kernel-test.sh`).
//!
//! Shapes come from a seeded PRNG and leave every tail the kernels handle: input channels
//! not a multiple of 4, output channels not a multiple of 16, odd widths, strides 1 and 2,
//! dilation, padding, groups and depthwise, dense layers with odd K and N, output split
//! into row / channel parts as a thread split makes them, and PLAIN weights (the
//! kernels' scalar fallback). No allocator: everything lives in static buffers.
//!
//! Each model inference is also timed with SysTick on the core clock; under QEMU that is
//! its virtual clock, which `-icount` ties to executed instructions: a deterministic proxy
//! for the work done, not Cortex-M cycle timing.

#![no_std]
#![no_main]

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use kestrel_runtime::format::packing::{Blocked, BLOCKED, PLAIN};
use kestrel_runtime::kernels::{self, pack_blocked_into, ConvI8, DenseI8, Geom, Kernels, QOut, SCALAR};
use kestrel_runtime::Model;
use panic_semihosting as _;

/// Random conv cases and dense cases (sized so the run stays within seconds in QEMU).
const CONV_CASES: u64 = 1500;
const DENSE_CASES: u64 = 1500;
/// Random inputs per embedded model (fewer for the 20.7 MMAC CIFAR CNN, whose scalar
/// run is the slow part under QEMU).
const MODEL_INPUTS: u64 = 5;
const BIG_MODEL_INPUTS: u64 = 2;

const X_MAX: usize = 16 * 1024;
const W_MAX: usize = 128 * 1024;
const Y_MAX: usize = 16 * 1024;
const C_MAX: usize = 128;
const ARENA_MAX: usize = 512 * 1024;

#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

struct Bufs {
    x: [i8; X_MAX],
    w_plain: [i8; W_MAX],
    w_blk: [i8; W_MAX],
    bias: [i32; C_MAX],
    mult: [f32; C_MAX],
    want: [i8; Y_MAX],
    got: [i8; Y_MAX],
    out: [u8; 4096],
    input: [f32; 4096],
}

static mut BUFS: Bufs = Bufs {
    x: [0; X_MAX],
    w_plain: [0; W_MAX],
    w_blk: [0; W_MAX],
    bias: [0; C_MAX],
    mult: [0.0; C_MAX],
    want: [0; Y_MAX],
    got: [0; Y_MAX],
    out: [0; 4096],
    input: [0.0; 4096],
};
static mut ARENA: Aligned<[u8; ARENA_MAX]> = Aligned([0; ARENA_MAX]);

static GOLDEN: &Aligned<[u8]> = &Aligned(*include_bytes!("../../golden/mnist_cnn_28.int8.kes"));
static CIFAR: &Aligned<[u8]> = &Aligned(*include_bytes!("../../golden/cifar_cnn_32.int8.kes"));
static FASHION: &Aligned<[u8]> = &Aligned(*include_bytes!("../../../models/fashion-mnist/model.kes"));

/// xorshift64*: the same generator as the runtime's kernel tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() >> 33) as usize % n.max(1)
    }
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + self.below((hi - lo + 1) as usize) as i32
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn fill_i8(&mut self, v: &mut [i8], lo: i32, hi: i32) {
        for e in v {
            *e = self.range(lo, hi) as i8;
        }
    }
}

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once, single-threaded, and is the only code that touches BUFS
    // and ARENA; no interrupt handler uses them.
    let (b, arena) = unsafe { (&mut *core::ptr::addr_of_mut!(BUFS), &mut (*core::ptr::addr_of_mut!(ARENA)).0) };
    let dsp = match kernels::by_name("dsp") {
        Ok(k) => k,
        Err(e) => {
            hprintln!("FAIL: no dsp kernel set in this build: {}", e);
            debug::exit(debug::EXIT_FAILURE);
            loop {
                cortex_m::asm::wfi();
            }
        }
    };
    hprintln!("cortex-m-kernels: best kernel set '{}'", kernels::best().name);
    let mut fails = 0u32;
    let mut syst = cortex_m::Peripherals::take().map(|p| p.SYST);
    if let Some(st) = syst.as_mut() {
        st.set_clock_source(SystClkSource::Core);
        st.set_reload(0x00ff_ffff);
        st.enable_interrupt();
        st.enable_counter();
    }
    let (mut n, mut f) = (0u32, 0u32);
    for seed in 0..CONV_CASES {
        f += conv_case(dsp, b, seed);
        n += 1;
    }
    hprintln!("conv2d_i8: {} cases, {} mismatches", n, f);
    fails += f;
    let (mut n, mut f) = (0u32, 0u32);
    for seed in 0..DENSE_CASES {
        f += dense_case(dsp, b, seed);
        n += 1;
    }
    hprintln!("dense_i8: {} cases, {} mismatches", n, f);
    fails += f;
    for (name, kes, inputs) in [
        ("tests/golden/mnist_cnn_28.int8.kes", &GOLDEN.0, MODEL_INPUTS),
        ("models/fashion-mnist/model.kes", &FASHION.0, MODEL_INPUTS),
        ("tests/golden/cifar_cnn_32.int8.kes", &CIFAR.0, BIG_MODEL_INPUTS),
    ] {
        fails += model_case(dsp, b, arena, name, kes, inputs, syst.is_some());
    }
    if fails == 0 {
        hprintln!("cortex-m-kernels: all dsp kernels equal to the scalar reference");
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("cortex-m-kernels: FAIL, {} mismatches", fails);
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}

fn random_q(r: &mut Rng) -> QOut {
    let zy = r.range(-128, 127);
    match r.below(3) {
        0 => QOut { zy, lo: -128, hi: 127 },
        1 => QOut { zy, lo: zy, hi: 127 },
        _ => QOut { zy, lo: zy.max(-100), hi: (zy + 60).min(127) },
    }
}

/// Multipliers that spread outputs over the int8 range; every fourth 0.5 (rounding ties).
fn random_mults(r: &mut Rng, m: &mut [f32], terms: usize) {
    let typical = libm_sqrt(terms as f32) * 64.0 * 64.0;
    for (i, v) in m.iter_mut().enumerate() {
        *v = if i % 4 == 3 { 0.5 } else { (0.2 + 2.0 * r.f32()) * 50.0 / typical };
    }
}

fn libm_sqrt(v: f32) -> f32 {
    // Newton's method is plenty for a scale factor.
    let mut s = v.max(1.0);
    for _ in 0..20 {
        s = 0.5 * (s + v / s);
    }
    s
}

/// A random conv geometry whose buffers fit; depthwise one time in five.
fn random_geom(r: &mut Rng) -> Geom {
    loop {
        let (groups, icg, ocg) = if r.below(5) == 0 {
            let c = r.pick(&[1, 3, 8, 13, 17]);
            (c, 1, r.pick(&[1, 1, 2]))
        } else {
            (r.pick(&[1, 1, 1, 2, 3]), r.pick(&[1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 32, 33]), r.pick(&[1, 3, 8, 15, 16, 17, 31, 32, 33]))
        };
        let (kh, kw) = r.pick(&[(1, 1), (1, 1), (3, 3), (3, 3), (3, 3), (2, 2), (1, 3), (5, 5), (3, 1)]);
        let (sh, sw) = r.pick(&[(1, 1), (1, 1), (2, 2), (1, 2)]);
        let (dh, dw) = r.pick(&[(1, 1), (1, 1), (1, 1), (2, 2)]);
        let (pt, pl) = (r.below(kh), r.below(kw));
        let (pb, pr) = (r.below(kh), r.below(kw));
        let ih = r.range(((kh - 1) * dh + 1) as i32, 12) as usize;
        let iw = r.range(((kw - 1) * dw + 1) as i32, 15) as usize;
        let oh = (ih + pt + pb - ((kh - 1) * dh + 1)) / sh + 1;
        let ow = (iw + pl + pr - ((kw - 1) * dw + 1)) / sw + 1;
        let g = Geom { ih, iw, ic: icg * groups, oh, ow, oc: ocg * groups, kh, kw, sh, sw, dh, dw, pt, pl, groups };
        let wb = Blocked::conv(g.oc, g.ic, kh, kw, groups, true).elements().unwrap_or(usize::MAX);
        if ih * iw * g.ic <= X_MAX && wb <= W_MAX && oh * ow * g.oc <= Y_MAX && g.oc <= C_MAX {
            return g;
        }
    }
}

/// One random convolution: the dsp kernel on the whole output and on a row split, BLOCKED
/// (and now and then PLAIN) weights, against the scalar reference. Returns mismatches.
fn conv_case(dsp: &Kernels, b: &mut Bufs, seed: u64) -> u32 {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let g = random_geom(&mut r);
    let (icg, taps) = (g.ic / g.groups, g.kh * g.kw);
    let x = &mut b.x[..g.ih * g.iw * g.ic];
    r.fill_i8(x, -128, 127);
    let wp = &mut b.w_plain[..g.oc * taps * icg];
    r.fill_i8(wp, -127, 127);
    let blk = Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, true);
    let plain = r.below(8) == 0;
    let w: &[i8] = if plain {
        wp
    } else {
        let wb = &mut b.w_blk[..blk.elements().unwrap()];
        pack_blocked_into(wp, &blk, wb);
        wb
    };
    for v in &mut b.bias[..g.oc] {
        *v = r.range(-20_000, 20_000);
    }
    random_mults(&mut r, &mut b.mult[..g.oc], taps * icg);
    let a = ConvI8 {
        g,
        x,
        zx: r.range(-128, 127),
        w,
        packing: if plain { PLAIN } else { BLOCKED },
        bias: &b.bias[..g.oc],
        mult: &b.mult[..g.oc],
        q: random_q(&mut r),
    };
    let row = g.ow * g.oc;
    let want = &mut b.want[..g.oh * row];
    (SCALAR.conv2d_i8)(&a, 0, want, &mut []);
    let got = &mut b.got[..g.oh * row];
    got.fill(0x55);
    (dsp.conv2d_i8)(&a, 0, got, &mut []); // the dsp set needs no scratch
    let mut bad = (got != want) as u32;
    if g.oh >= 2 {
        let cut = 1 + r.below(g.oh - 1);
        got.fill(0x55);
        let (top, bottom) = got.split_at_mut(cut * row);
        (dsp.conv2d_i8)(&a, 0, top, &mut []);
        (dsp.conv2d_i8)(&a, cut, bottom, &mut []);
        bad += (got != want) as u32;
    }
    if bad != 0 {
        let i = got.iter().zip(want.iter()).position(|(p, q)| p != q).unwrap_or(0);
        hprintln!("MISMATCH conv seed {}: {:?} zx {} {:?} plain {}: first at {}: got {}, want {}", seed, g, a.zx, a.q, plain, i, got[i], want[i]);
    }
    bad
}

/// One random dense layer: the dsp kernel on all outputs and on a split at a multiple of
/// 16, against the scalar reference. Returns mismatches.
fn dense_case(dsp: &Kernels, b: &mut Bufs, seed: u64) -> u32 {
    let mut r = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let (k, n) = loop {
        let k = r.pick(&[1, 2, 3, 4, 5, 7, 9, 16, 17, 31, 64, 100, 127, 257, 784, 1023]);
        let n = r.pick(&[1, 3, 10, 15, 16, 17, 31, 33, 64, 100, 127]);
        if Blocked::dense(n, k, true).elements().unwrap_or(usize::MAX) <= W_MAX {
            break (k, n);
        }
    };
    let x = &mut b.x[..k];
    r.fill_i8(x, -128, 127);
    let wp = &mut b.w_plain[..n * k];
    r.fill_i8(wp, -127, 127);
    let blk = Blocked::dense(n, k, true);
    let plain = r.below(8) == 0;
    let w: &[i8] = if plain {
        wp
    } else {
        let wb = &mut b.w_blk[..blk.elements().unwrap()];
        pack_blocked_into(wp, &blk, wb);
        wb
    };
    for v in &mut b.bias[..n] {
        *v = r.range(-20_000, 20_000);
    }
    random_mults(&mut r, &mut b.mult[..n], k);
    let a = DenseI8 {
        x,
        zx: r.range(-128, 127),
        w,
        packing: if plain { PLAIN } else { BLOCKED },
        bias: &b.bias[..n],
        mult: &b.mult[..n],
        q: random_q(&mut r),
    };
    let want = &mut b.want[..n];
    (SCALAR.dense_i8)(&a, 0, want);
    let got = &mut b.got[..n];
    got.fill(0x55);
    (dsp.dense_i8)(&a, 0, got);
    let mut bad = (got != want) as u32;
    if n > 16 {
        let cut = 16 * (1 + r.below((n - 1) / 16));
        got.fill(0x55);
        let (lo, hi) = got.split_at_mut(cut);
        (dsp.dense_i8)(&a, 0, lo);
        (dsp.dense_i8)(&a, cut, hi);
        bad += (got != want) as u32;
    }
    if bad != 0 {
        let i = got.iter().zip(want.iter()).position(|(p, q)| p != q).unwrap_or(0);
        hprintln!("MISMATCH dense seed {}: k {} n {} zx {} {:?} plain {}: first at {}: got {}, want {}", seed, k, n, a.zx, a.q, plain, i, got[i], want[i]);
    }
    bad
}

/// A whole int8 model on random inputs with the dsp set and with the scalar reference:
/// the output bytes must be identical. Returns mismatches (a load error counts as one).
fn model_case(dsp: &Kernels, b: &mut Bufs, arena: &mut [u8], name: &str, kes: &[u8], inputs: u64, timed: bool) -> u32 {
    let m = match Model::load(kes) {
        Ok(m) => m,
        Err(e) => {
            hprintln!("MISMATCH {}: does not load: {}", name, e);
            return 1;
        }
    };
    let (t, n_in) = (m.output(), m.input().len());
    if m.arena_size() > arena.len() || n_in > b.input.len() || t.size > b.out.len() {
        hprintln!("MISMATCH {}: arena {} / input {} / output {} too large for the test buffers", name, m.arena_size(), n_in, t.size);
        return 1;
    }
    let mut r = Rng(0x5EED_CAFE);
    let mut bad = 0;
    let mut ticks = [0u64; 2];
    for i in 0..inputs {
        let x = &mut b.input[..n_in];
        for v in x.iter_mut() {
            *v = r.f32();
        }
        let mut run = |k: &Kernels, arena: &mut [u8], slot: usize| {
            m.set_input_f32(arena, x)?;
            let t0 = now();
            let r = m.run_with(k, arena);
            ticks[slot] += elapsed(t0);
            r
        };
        if let Err(e) = run(dsp, arena, 0) {
            hprintln!("MISMATCH {}: dsp run failed: {}", name, e);
            return bad + 1;
        }
        b.out[..t.size].copy_from_slice(&arena[t.offset..t.offset + t.size]);
        if let Err(e) = run(&SCALAR, arena, 1) {
            hprintln!("MISMATCH {}: scalar run failed: {}", name, e);
            return bad + 1;
        }
        if b.out[..t.size] != arena[t.offset..t.offset + t.size] {
            hprintln!("MISMATCH {} input {}: dsp output differs from the scalar reference", name, i);
            bad += 1;
        }
    }
    hprintln!("model {} ({} ops): {} inputs, dsp output {} as scalar", name, m.n_ops(), inputs, if bad == 0 { "identical" } else { "NOT identical" });
    if timed {
        hprintln!("  SysTick ticks per inference (virtual clock, proportional to executed instructions under -icount): dsp {}, scalar {}", ticks[0] / inputs, ticks[1] / inputs);
    }
    bad
}

/// SysTick wraps (every 2^24 ticks) since boot, counted by its exception.
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Ticks since boot: whole periods from the exception count plus the down-counter. Read
/// twice around the counter so a wrap between the two reads is not lost.
fn now() -> u64 {
    loop {
        let w = WRAPS.load(Ordering::Relaxed);
        let c = SYST::get_current();
        if WRAPS.load(Ordering::Relaxed) == w {
            return ((w as u64) << 24) + (0x00ff_ffff - c as u64);
        }
    }
}

/// Ticks since `t0` (a [`now`] reading; SysTick runs freely, nothing is reset).
fn elapsed(t0: u64) -> u64 {
    now().wrapping_sub(t0)
}
