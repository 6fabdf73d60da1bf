//! Every kernel set against the scalar reference: int8 with `assert_eq!`, f32 within the
//! error budget below, on random shapes whose channel counts and widths leave SIMD tails,
//! and on output parts (row ranges / channel ranges) as the thread split makes them.
//!
//! f32 error budget: an optimized f32 kernel may sum in another order and fuse multiply
//! and add, so for an output `y = b + Σ x_i w_i` of `K` terms it must satisfy
//! `|y - y_ref| <= 2 K ε (|b| + Σ |x_i w_i|) + 1e-30` with `ε = f32::EPSILON` (twice the
//! textbook bound for recursive summation, covering both orders).

use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::format::packing::{self, Blocked};

/// xorshift64*: deterministic test data without a dependency.
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
    fn i8s(&mut self, n: usize, lo: i32, hi: i32) -> Vec<i8> {
        (0..n).map(|_| self.range(lo, hi) as i8).collect()
    }
}

/// `assert_eq!` on int8 outputs, reporting the first difference instead of both vectors.
#[track_caller]
fn same(got: &[i8], want: &[i8], ctx: core::fmt::Arguments<'_>) {
    if got != want {
        let i = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        let n = got.iter().zip(want).filter(|(a, b)| a != b).count();
        panic!("{ctx}: {n} of {} outputs differ; first at {i}: got {:?}, want {:?}", want.len(), got.get(i), want.get(i));
    }
}

/// The kernel sets under test; on x86_64 the SIMD sets must be there when the CPU has
/// their features, so a test can't pass by skipping them.
/// A kernel's scratch for geometry `g`, filled with garbage (kernels must not rely on its
/// contents).
pub(super) fn scratch(size: fn(&Geom) -> usize, g: &Geom) -> Vec<u8> {
    vec![0xA5; size(g)]
}

fn sets() -> Vec<&'static Kernels> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512bw") {
            assert!(x86::avx512vnni().is_some(), "AVX-512 VNNI CPU but no avx512vnni kernel set");
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            assert!(x86::avx2().is_some(), "AVX2 CPU but no avx2 kernel set");
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert!(aarch64::neon().is_some(), "aarch64 build but no neon kernel set");
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            assert!(aarch64::neon_dotprod().is_some(), "dotprod CPU but no neon-dotprod kernel set");
        }
    }
    available().collect()
}

/// A random conv geometry; channel counts and widths chosen to leave SIMD tails.
fn random_geom(r: &mut Rng) -> Geom {
    let groups = r.pick(&[1, 1, 1, 1, 2, 3]);
    let icg = r.pick(&[1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 32, 33, 64, 67]);
    let ocg = r.pick(&[1, 3, 8, 15, 16, 17, 31, 32, 48, 64, 65, 80, 128]);
    let (kh, kw) = r.pick(&[(1, 1), (3, 3), (3, 3), (2, 2), (1, 3), (5, 5), (3, 1)]);
    let (sh, sw) = r.pick(&[(1, 1), (1, 1), (2, 2), (1, 2), (3, 3)]);
    let (dh, dw) = r.pick(&[(1, 1), (1, 1), (1, 1), (2, 2), (1, 2)]);
    let (pt, pl) = (r.below(kh), r.below(kw));
    let (pb, pr) = (r.below(kh), r.below(kw));
    let ih = r.range(((kh - 1) * dh + 1) as i32, 12) as usize;
    let iw = r.range(((kw - 1) * dw + 1) as i32, 19) as usize;
    let oh = (ih + pt + pb - ((kh - 1) * dh + 1)) / sh + 1;
    let ow = (iw + pl + pr - ((kw - 1) * dw + 1)) / sw + 1;
    Geom { ih, iw, ic: icg * groups, oh, ow, oc: ocg * groups, kh, kw, sh, sw, dh, dw, pt, pl, groups }
}

/// Row splits the executor may make: the whole output, and 2 or 3 parts.
fn row_parts(oh: usize, r: &mut Rng) -> Vec<Vec<(usize, usize)>> {
    let mut v = vec![vec![(0, oh)]];
    if oh >= 2 {
        let cut = 1 + r.below(oh - 1);
        v.push(vec![(0, cut), (cut, oh)]);
    }
    if oh >= 3 {
        v.push((0..oh).map(|i| (i, i + 1)).collect());
    }
    v
}

fn random_q(r: &mut Rng) -> QOut {
    let zy = r.range(-128, 127);
    match r.below(3) {
        0 => QOut { zy, lo: -128, hi: 127 },
        1 => QOut { zy, lo: zy, hi: 127 },
        _ => QOut { zy, lo: zy.max(-100), hi: (zy + 60).min(127) },
    }
}

/// Multipliers that spread outputs over the int8 range; every fourth a power of two, so
/// rounding ties (x.5) happen often.
fn random_mults(r: &mut Rng, n: usize, terms: usize) -> Vec<f32> {
    let typical = (terms as f32).sqrt() * 64.0 * 64.0;
    (0..n).map(|i| if i % 4 == 3 { 0.5 } else if i % 7 == 6 { 0.0 } else { (0.2 + 2.0 * r.f32()) * 50.0 / typical }).collect()
}

fn conv_i8_case(seed: u64) {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let g = random_geom(&mut r);
    let (icg, taps) = (g.ic / g.groups, g.kh * g.kw);
    let x = r.i8s(g.ih * g.iw * g.ic, -128, 127);
    let w_plain = r.i8s(g.oc * taps * icg, -127, 127);
    let b = Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, true);
    let w_blk = pack_blocked(&w_plain, &b);
    let bias: Vec<i32> = (0..g.oc).map(|_| r.range(-40_000, 40_000)).collect();
    let mult = random_mults(&mut r, g.oc, taps * icg);
    let zx = r.range(-128, 127);
    let q = random_q(&mut r);
    let plain = ConvI8 { g, x: &x, zx, w: &w_plain, packing: packing::PLAIN, bias: &bias, mult: &mult, q };
    let blocked = ConvI8 { w: &w_blk, packing: packing::BLOCKED, ..plain };
    let len = g.oh * g.ow * g.oc;
    let mut want = vec![0i8; len];
    scalar_conv2d_i8(&plain, 0, &mut want);
    let mut got = vec![0i8; len];
    scalar_conv2d_i8(&blocked, 0, &mut got);
    same(&got, &want, format_args!("scalar reference: BLOCKED differs from PLAIN, {g:?}"));
    for k in sets() {
        for parts in row_parts(g.oh, &mut r) {
            let mut got = vec![0i8; len];
            for &(a0, a1) in &parts {
                (k.conv2d_i8)(&blocked, a0, &mut got[a0 * g.ow * g.oc..a1 * g.ow * g.oc], &mut scratch(k.conv2d_i8_scratch, &g));
            }
            same(&got, &want, format_args!("{} conv2d_i8: seed {seed}, {g:?}, zx {zx}, {q:?}, parts {parts:?}", k.name));
        }
    }
}

#[test]
fn conv2d_i8_matches_reference() {
    for seed in 0..400 {
        conv_i8_case(seed);
    }
}

/// VGG-like layers: 3x3 pad 1 at the channel counts of the reference workloads.
#[test]
fn conv2d_i8_vgg_shapes() {
    let mut r = Rng(7);
    for &(hw, ic, oc) in &[(10, 3, 64), (9, 64, 64), (7, 64, 128), (6, 128, 256), (5, 256, 512), (4, 512, 512)] {
        let g = Geom { ih: hw, iw: hw, ic, oh: hw, ow: hw, oc, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, groups: 1 };
        let x = r.i8s(hw * hw * ic, -128, 127);
        let w_plain = r.i8s(oc * 9 * ic, -127, 127);
        let w_blk = pack_blocked(&w_plain, &Blocked::conv(oc, ic, 3, 3, 1, true));
        let bias: Vec<i32> = (0..oc).map(|_| r.range(-4000, 4000)).collect();
        let mult = random_mults(&mut r, oc, 9 * ic);
        let a = ConvI8 { g, x: &x, zx: -128, w: &w_blk, packing: packing::BLOCKED, bias: &bias, mult: &mult, q: QOut { zy: -128, lo: -128, hi: 127 } };
        let mut want = vec![0i8; hw * hw * oc];
        scalar_conv2d_i8(&a, 0, &mut want);
        for k in sets() {
            let mut got = vec![0i8; want.len()];
            (k.conv2d_i8)(&a, 0, &mut got, &mut scratch(k.conv2d_i8_scratch, &a.g));
            same(&got, &want, format_args!("{} conv2d_i8 {hw}x{hw}x{ic} -> {oc}", k.name));
        }
    }
}

/// A hostile accumulator: values that overflow i32 must wrap identically everywhere.
#[test]
fn conv2d_i8_wraps_like_the_reference() {
    let g = Geom { ih: 3, iw: 3, ic: 4, oh: 3, ow: 3, oc: 16, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, groups: 1 };
    let x = vec![127i8; 36];
    let w_plain = vec![127i8; 16 * 9 * 4];
    let w_blk = pack_blocked(&w_plain, &Blocked::conv(16, 4, 3, 3, 1, true));
    let bias = vec![i32::MAX - 5; 16];
    let mult = vec![1e-9f32; 16];
    let a = ConvI8 { g, x: &x, zx: -128, w: &w_blk, packing: packing::BLOCKED, bias: &bias, mult: &mult, q: QOut { zy: 0, lo: -128, hi: 127 } };
    let mut want = vec![0i8; 9 * 16];
    scalar_conv2d_i8(&a, 0, &mut want);
    for k in sets() {
        let mut got = vec![0i8; want.len()];
        (k.conv2d_i8)(&a, 0, &mut got, &mut scratch(k.conv2d_i8_scratch, &a.g));
        same(&got, &want, format_args!("{} conv2d_i8 wrapping", k.name));
    }
}

/// Given less scratch than it states, a conv kernel runs the scalar reference: same bytes,
/// no out-of-bounds use of the short slice (which would panic).
#[test]
fn conv2d_short_scratch_falls_back() {
    let mut r = Rng(0x5C7A_7C11);
    let g = Geom { ih: 6, iw: 5, ic: 6, oh: 6, ow: 5, oc: 20, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, groups: 1 };
    let x = r.i8s(g.ih * g.iw * g.ic, -128, 127);
    let w_blk = pack_blocked(&r.i8s(g.oc * 9 * g.ic, -127, 127), &Blocked::conv(g.oc, g.ic, 3, 3, 1, true));
    let bias: Vec<i32> = (0..g.oc).map(|_| r.range(-4000, 4000)).collect();
    let mult = random_mults(&mut r, g.oc, 9 * g.ic);
    let a = ConvI8 { g, x: &x, zx: 3, w: &w_blk, packing: packing::BLOCKED, bias: &bias, mult: &mult, q: QOut { zy: -5, lo: -128, hi: 127 } };
    let mut want = vec![0i8; g.oh * g.ow * g.oc];
    scalar_conv2d_i8(&a, 0, &mut want);
    let (xf, wf, bf) = (vec![0.5f32; x.len()], vec![0.25f32; w_blk.len()], vec![1f32; g.oc]);
    let af = ConvF32 { g, x: &xf, w: &wf, packing: packing::BLOCKED, bias: &bf, act: Activation::None };
    let mut want_f = vec![0f32; want.len()];
    scalar_conv2d_f32(&af, 0, &mut want_f);
    for k in sets() {
        let short = (k.conv2d_i8_scratch)(&g).saturating_sub(1);
        let mut got = vec![0i8; want.len()];
        (k.conv2d_i8)(&a, 0, &mut got, &mut vec![0; short]);
        same(&got, &want, format_args!("{} conv2d_i8 with {short} bytes of scratch", k.name));
        let short = (k.conv2d_f32_scratch)(&g).saturating_sub(1);
        let mut got = vec![0f32; want.len()];
        (k.conv2d_f32)(&af, 0, &mut got, &mut vec![0; short]);
        assert_eq!(got, want_f, "{} conv2d_f32 with {short} bytes of scratch", k.name);
    }
}

/// Dense parts as the executor splits them: multiples of 16 outputs.
fn dense_parts(n: usize, r: &mut Rng) -> Vec<Vec<(usize, usize)>> {
    let mut v = vec![vec![(0, n)]];
    if n > 16 {
        let cut = 16 * (1 + r.below((n - 1) / 16));
        v.push(vec![(0, cut), (cut, n)]);
    }
    v
}

#[test]
fn dense_i8_matches_reference() {
    for seed in 0..300u64 {
        let mut r = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let k = r.pick(&[1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 63, 64, 65, 100, 257, 1000]);
        let n = r.pick(&[1, 2, 10, 12, 15, 16, 17, 31, 32, 33, 64, 65, 100, 256]);
        let x = r.i8s(k, -128, 127);
        let w_plain = r.i8s(n * k, -127, 127);
        let w_blk = pack_blocked(&w_plain, &Blocked::dense(n, k, true));
        let bias: Vec<i32> = (0..n).map(|_| r.range(-40_000, 40_000)).collect();
        let mult = random_mults(&mut r, n, k);
        let zx = r.range(-128, 127);
        let q = random_q(&mut r);
        let plain = DenseI8 { x: &x, zx, w: &w_plain, packing: packing::PLAIN, bias: &bias, mult: &mult, q };
        let blocked = DenseI8 { w: &w_blk, packing: packing::BLOCKED, ..plain };
        let mut want = vec![0i8; n];
        scalar_dense_i8(&plain, 0, &mut want);
        let mut got = vec![0i8; n];
        scalar_dense_i8(&blocked, 0, &mut got);
        same(&got, &want, format_args!("scalar dense: BLOCKED differs from PLAIN, n {n} k {k}"));
        for kset in sets() {
            for parts in dense_parts(n, &mut r) {
                let mut got = vec![0i8; n];
                for &(a0, a1) in &parts {
                    (kset.dense_i8)(&blocked, a0, &mut got[a0..a1]);
                }
                same(&got, &want, format_args!("{} dense_i8: seed {seed}, n {n}, k {k}, zx {zx}, {q:?}, parts {parts:?}", kset.name));
            }
        }
    }
}

/// The f32 budget of the module docs, per output: `terms[i] = Σ |x w|` plus `|b|`, `K` terms.
#[track_caller]
fn within_budget(got: &[f32], want: &[f32], mag: &[f32], k: usize, ctx: core::fmt::Arguments<'_>) {
    assert_eq!(got.len(), want.len());
    for i in 0..got.len() {
        let tol = 2.0 * k.max(1) as f32 * f32::EPSILON * mag[i] + 1e-30;
        let ok = (got[i] - want[i]).abs() <= tol || (got[i].is_nan() && want[i].is_nan());
        assert!(ok, "{ctx}: output {i}: got {}, want {} (budget {tol})", got[i], want[i]);
    }
}

fn random_act(r: &mut Rng) -> Activation {
    match r.below(4) {
        0 => Activation::None,
        1 => Activation::Relu,
        2 => Activation::Clip(-0.5, 0.75),
        _ => Activation::LeakyRelu(0.1),
    }
}

fn f32s(r: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| r.f32() * 2.0 - 1.0).collect()
}

/// Magnitudes for the f32 error budget: the same conv (PLAIN weights) on |x|, |w|, |b|
/// without activation.
fn conv_f32_magnitudes(plain: &ConvF32<'_>) -> Vec<f32> {
    let abs = |v: &[f32]| v.iter().map(|v| v.abs()).collect::<Vec<f32>>();
    let (ax, aw, ab) = (abs(plain.x), abs(plain.w), abs(plain.bias));
    let g = plain.g;
    let mut mag = vec![0f32; g.oh * g.ow * g.oc];
    scalar_conv2d_f32(&ConvF32 { g, x: &ax, w: &aw, packing: packing::PLAIN, bias: &ab, act: Activation::None }, 0, &mut mag);
    mag
}

#[test]
fn conv2d_f32_within_budget() {
    for seed in 0..250u64 {
        let mut r = Rng(seed.wrapping_mul(0xA076_1D64_78BD_642F) | 1);
        let g = random_geom(&mut r);
        let (icg, taps) = (g.ic / g.groups, g.kh * g.kw);
        let x = f32s(&mut r, g.ih * g.iw * g.ic);
        let w_plain = f32s(&mut r, g.oc * taps * icg);
        let w_blk = pack_blocked(&w_plain, &Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, false));
        let bias = f32s(&mut r, g.oc);
        let act = random_act(&mut r);
        let plain = ConvF32 { g, x: &x, w: &w_plain, packing: packing::PLAIN, bias: &bias, act };
        let blocked = ConvF32 { w: &w_blk, packing: packing::BLOCKED, ..plain };
        let len = g.oh * g.ow * g.oc;
        let mut want = vec![0f32; len];
        scalar_conv2d_f32(&plain, 0, &mut want);
        let mag = conv_f32_magnitudes(&plain);
        let terms = taps * icg + 1;
        let mut got = vec![0f32; len];
        scalar_conv2d_f32(&blocked, 0, &mut got);
        within_budget(&got, &want, &mag, terms, format_args!("scalar conv f32 BLOCKED vs PLAIN, {g:?}"));
        for k in sets() {
            for parts in row_parts(g.oh, &mut r) {
                let mut got = vec![f32::NAN; len];
                for &(a0, a1) in &parts {
                    (k.conv2d_f32)(&blocked, a0, &mut got[a0 * g.ow * g.oc..a1 * g.ow * g.oc], &mut scratch(k.conv2d_f32_scratch, &g));
                }
                within_budget(&got, &want, &mag, terms, format_args!("{} conv2d_f32: seed {seed}, {g:?}, {act:?}", k.name));
            }
        }
    }
}

#[test]
fn dense_f32_within_budget() {
    for seed in 0..200u64 {
        let mut r = Rng(seed.wrapping_mul(0xE703_7ED1_A0B4_28DB) | 1);
        let k = r.pick(&[1, 2, 3, 7, 8, 9, 16, 17, 100, 257, 1000]);
        let n = r.pick(&[1, 5, 10, 12, 16, 17, 31, 33, 64, 65, 100]);
        let x = f32s(&mut r, k);
        let w_plain = f32s(&mut r, n * k);
        let w_blk = pack_blocked(&w_plain, &Blocked::dense(n, k, false));
        let bias = f32s(&mut r, n);
        let act = random_act(&mut r);
        let plain = DenseF32 { x: &x, w: &w_plain, packing: packing::PLAIN, bias: &bias, act };
        let blocked = DenseF32 { w: &w_blk, packing: packing::BLOCKED, ..plain };
        let mut want = vec![0f32; n];
        scalar_dense_f32(&plain, 0, &mut want);
        let (ax, aw, ab): (Vec<f32>, Vec<f32>, Vec<f32>) =
            (x.iter().map(|v| v.abs()).collect(), w_plain.iter().map(|v| v.abs()).collect(), bias.iter().map(|v| v.abs()).collect());
        let mut mag = vec![0f32; n];
        scalar_dense_f32(&DenseF32 { x: &ax, w: &aw, packing: packing::PLAIN, bias: &ab, act: Activation::None }, 0, &mut mag);
        for kset in sets() {
            for parts in dense_parts(n, &mut r) {
                let mut got = vec![f32::NAN; n];
                for &(a0, a1) in &parts {
                    (kset.dense_f32)(&blocked, a0, &mut got[a0..a1]);
                }
                within_budget(&got, &want, &mag, k + 1, format_args!("{} dense_f32: seed {seed}, n {n}, k {k}, {act:?}", kset.name));
            }
        }
    }
}

#[test]
fn maxpool_matches_reference() {
    for seed in 0..200u64 {
        let mut r = Rng(seed.wrapping_mul(0x8EBC_6AF0_9C88_C6E3) | 1);
        let c = r.pick(&[1, 3, 8, 16, 31, 32, 33, 64, 65, 100]);
        let (kh, kw) = r.pick(&[(2, 2), (3, 3), (1, 1), (2, 3)]);
        let (sh, sw) = r.pick(&[(1, 1), (2, 2), (3, 2)]);
        let (pt, pl) = (r.below(kh), r.below(kw));
        let (pb, pr) = (r.below(kh), r.below(kw));
        let ih = r.range(kh as i32, 9) as usize;
        let iw = r.range(kw as i32, 11) as usize;
        let oh = (ih + pt + pb - kh) / sh + 1;
        let ow = (iw + pl + pr - kw) / sw + 1;
        let g = Geom { ih, iw, ic: c, oh, ow, oc: c, kh, kw, sh, sw, dh: 1, dw: 1, pt, pl, groups: 1 };
        let x = r.i8s(ih * iw * c, -128, 127);
        let xf: Vec<f32> = x.iter().map(|&v| if v == 5 { f32::NAN } else { v as f32 * 0.25 }).collect();
        let mut want = vec![0i8; oh * ow * c];
        scalar_maxpool_i8(&g, &x, 0, &mut want);
        let mut want_f = vec![0f32; oh * ow * c];
        scalar_maxpool_f32(&g, &xf, 0, &mut want_f);
        for k in sets() {
            for parts in row_parts(oh, &mut r) {
                let mut got = vec![0i8; want.len()];
                let mut got_f = vec![0f32; want.len()];
                for &(a0, a1) in &parts {
                    let (s, e) = (a0 * ow * c, a1 * ow * c);
                    (k.maxpool_i8)(&g, &x, a0, &mut got[s..e]);
                    (k.maxpool_f32)(&g, &xf, a0, &mut got_f[s..e]);
                }
                same(&got, &want, format_args!("{} maxpool_i8 {g:?}", k.name));
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got_f), bits(&want_f), "{} maxpool_f32 {g:?}", k.name);
            }
        }
    }
}

#[test]
fn quantize_matches_reference() {
    let mut r = Rng(99);
    for n in [0usize, 1, 7, 8, 9, 31, 784, 1000] {
        let mut x: Vec<f32> = (0..n).map(|_| (r.f32() - 0.5) * 20.0).collect();
        if n > 3 {
            x[0] = f32::NAN;
            x[1] = f32::INFINITY;
            x[2] = 0.25; // a tie at scale 0.1: 2.5 -> 2
        }
        for &(scale, zp) in &[(0.1f32, 3), (0.05, -128), (1.0 / 255.0, 127), (0.5, 0)] {
            let mut want = vec![0i8; n];
            scalar_quantize(&x, scale, zp, &mut want);
            for k in sets() {
                let mut got = vec![0i8; n];
                (k.quantize)(&x, scale, zp, &mut got);
                same(&got, &want, format_args!("{} quantize n {n} scale {scale} zp {zp}", k.name));
            }
        }
    }
}

/// First layers with few input channels (the row-merged interior path of the VNNI kernel),
/// with and without padding, at odd sizes.
#[test]
fn conv2d_i8_first_layers() {
    let mut r = Rng(11);
    for &(hw, ic, oc, pad, s) in &[(28, 1, 6, 0, 1), (16, 2, 8, 1, 1), (20, 3, 32, 1, 1), (9, 5, 17, 1, 2), (13, 1, 12, 2, 1), (7, 6, 12, 0, 1)] {
        let o = (hw + 2 * pad - 3) / s + 1;
        let g = Geom { ih: hw, iw: hw, ic, oh: o, ow: o, oc, kh: 3, kw: 3, sh: s, sw: s, dh: 1, dw: 1, pt: pad, pl: pad, groups: 1 };
        let x = r.i8s(hw * hw * ic, -128, 127);
        let w_plain = r.i8s(oc * 9 * ic, -127, 127);
        let w_blk = pack_blocked(&w_plain, &Blocked::conv(oc, ic, 3, 3, 1, true));
        let bias: Vec<i32> = (0..oc).map(|_| r.range(-4000, 4000)).collect();
        let mult = random_mults(&mut r, oc, 9 * ic);
        let a = ConvI8 { g, x: &x, zx: r.range(-128, 127), w: &w_blk, packing: packing::BLOCKED, bias: &bias, mult: &mult, q: random_q(&mut r) };
        let mut want = vec![0i8; o * o * oc];
        scalar_conv2d_i8(&a, 0, &mut want);
        for k in sets() {
            for parts in row_parts(o, &mut r) {
                let mut got = vec![0i8; want.len()];
                for &(a0, a1) in &parts {
                    (k.conv2d_i8)(&a, a0, &mut got[a0 * o * oc..a1 * o * oc], &mut scratch(k.conv2d_i8_scratch, &a.g));
                }
                same(&got, &want, format_args!("{} conv2d_i8 {hw}x{hw}x{ic} -> {oc} pad {pad} stride {s}", k.name));
            }
        }
    }
}

/// The kernel sets this CPU offers, best first, as `KESTREL_EXPECT_KERNELS` names them
/// (comma separated; CI sets it per emulated CPU): every listed set is there, in that order,
/// and no unlisted CPU-detected set (x86, aarch64) is, so a set that silently disappears
/// (a detection or `cfg` slip) fails instead of leaving its kernels untested. Sets that
/// don't depend on the host CPU (the Cortex-M `dsp` set's portable test build) may
/// appear in between unlisted.
#[test]
fn expected_kernel_sets_present() {
    const DETECTED: [&str; 4] = ["avx512vnni", "avx2", "neon-dotprod", "neon"];
    let names: Vec<&str> = available().map(|k| k.name).collect();
    if let Ok(want) = std::env::var("KESTREL_EXPECT_KERNELS") {
        let want: Vec<&str> = want.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let got: Vec<&str> = names.iter().copied().filter(|n| want.contains(n) || DETECTED.contains(n)).collect();
        assert_eq!(got, want, "kernel sets available on this CPU (all: {names:?}) vs KESTREL_EXPECT_KERNELS");
    }
    assert_eq!(names.last(), Some(&"scalar"));
    for n in &names {
        assert_eq!(by_name(n).map(|k| k.name), Ok(*n));
    }
}

mod depthwise;
mod avgpool;
mod mul;
#[cfg(target_arch = "x86_64")]
mod dsp_models;
