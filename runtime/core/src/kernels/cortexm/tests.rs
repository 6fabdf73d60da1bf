//! A few fixed shapes through the `dsp` kernels against the scalar reference, small enough
//! for Miri (`cargo +nightly miri test -p kestrel-runtime --lib -- cortexm`), which checks
//! the kernels' raw-pointer reads; the random-shape suite is `kernels/tests.rs` (host) and
//! `tests/cortex-m-kernels` (qemu-system-arm).

use alloc::vec;
use alloc::vec::Vec;

use super::{dsp_conv2d_i8::dsp_conv2d_i8, dsp_dense_i8::dsp_dense_i8};
use crate::format::packing::{self, Blocked};
use crate::kernels::{pack_blocked, scalar_conv2d_i8, scalar_dense_i8, ConvI8, DenseI8, Geom, QOut};

/// Deterministic bytes in -128..=127 (a multiplicative hash of the index).
fn bytes(n: usize, seed: u32) -> Vec<i8> {
    (0..n as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8 as i8).collect()
}

fn conv(g: Geom, zx: i32) {
    let icg = g.ic / g.groups;
    let taps = g.kh * g.kw;
    let x = bytes(g.ih * g.iw * g.ic, 1);
    let b = Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, true);
    let w = pack_blocked(&bytes(g.oc * taps * icg, 2), &b);
    let bias: Vec<i32> = (0..g.oc as i32).map(|i| i * 37 - 300).collect();
    let mult = vec![0.004f32; g.oc];
    let q = QOut { zy: 3, lo: -128, hi: 127 };
    let a = ConvI8 { g, x: &x, zx, w: &w, packing: packing::BLOCKED, bias: &bias, mult: &mult, q };
    let mut want = vec![0i8; g.oh * g.ow * g.oc];
    scalar_conv2d_i8(&a, 0, &mut want);
    let mut got = vec![0x55i8; want.len()];
    dsp_conv2d_i8(&a, 0, &mut got, &mut []);
    assert_eq!(got, want, "{g:?} zx {zx}");
}

#[test]
fn conv_tails_padding_stride_groups() {
    let g = |ih, iw, ic, oc, k, s, p, groups| {
        let oh = (ih + 2 * p - k) / s + 1;
        let ow = (iw + 2 * p - k) / s + 1;
        Geom { ih, iw, ic, oh, ow, oc, kh: k, kw: k, sh: s, sw: s, dh: 1, dw: 1, pt: p, pl: p, groups }
    };
    conv(g(5, 7, 5, 17, 3, 2, 1, 1), -128); // ic and oc tails, stride 2, padding
    conv(g(4, 5, 8, 16, 1, 1, 0, 1), 127); // 1x1, whole groups and block
    conv(g(5, 5, 6, 6, 3, 1, 1, 6), 0); // depthwise
    conv(g(3, 3, 6, 9, 3, 1, 1, 3), -5); // grouped, 2 in x 3 out per group
}

#[test]
fn dense_tails_and_parts() {
    for (k, n) in [(1, 1), (7, 17), (16, 33), (33, 5)] {
        let x = bytes(k, 3);
        let b = Blocked::dense(n, k, true);
        let w = pack_blocked(&bytes(n * k, 4), &b);
        let bias: Vec<i32> = (0..n as i32).map(|i| 50 - i * 11).collect();
        let mult = vec![0.01f32; n];
        let a = DenseI8 { x: &x, zx: -7, w: &w, packing: packing::BLOCKED, bias: &bias, mult: &mult, q: QOut { zy: -1, lo: -1, hi: 127 } };
        let mut want = vec![0i8; n];
        scalar_dense_i8(&a, 0, &mut want);
        let mut got = vec![0x55i8; n];
        let cut = if n > 16 { 16 } else { n };
        let (lo, hi) = got.split_at_mut(cut);
        dsp_dense_i8(&a, 0, lo);
        dsp_dense_i8(&a, cut, hi);
        assert_eq!(got, want, "k {k} n {n}");
    }
}
