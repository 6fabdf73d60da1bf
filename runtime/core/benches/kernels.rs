//! Per-kernel benchmarks: every kernel set this CPU runs, on layer shapes of the reference
//! workloads (VGG16 3x3 convs at several depths, a 1x1 conv, the dense layers, a pool) and
//! MobileNet-like depthwise 3x3 layers.
//! Throughput is reported in elements = multiply-accumulates (so `Melem/s` reads MMAC/s).
//!
//! `cargo bench -p kestrel-runtime --features std [-- FILTER]`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kestrel_runtime::format::packing::{self, Blocked};
use kestrel_runtime::kernels::{self, pack_blocked_into, ConvF32, ConvI8, DenseF32, DenseI8, Geom, QOut};
use kestrel_runtime::Activation;

fn data_i8(n: usize, seed: u32) -> Vec<i8> {
    (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as i8).collect()
}

fn data_f32(n: usize, seed: u32) -> Vec<f32> {
    data_i8(n, seed).iter().map(|&v| v as f32 / 128.0).collect()
}

fn conv3x3(hw: usize, ic: usize, oc: usize, stride: usize) -> Geom {
    let o = (hw + 2 - 3) / stride + 1;
    Geom { ih: hw, iw: hw, ic, oh: o, ow: o, oc, kh: 3, kw: 3, sh: stride, sw: stride, dh: 1, dw: 1, pt: 1, pl: 1, groups: 1 }
}

fn conv_shapes() -> Vec<(&'static str, Geom)> {
    vec![
        ("vgg_b1c1_224x3to64", conv3x3(224, 3, 64, 1)),
        ("vgg_b2_112x128", conv3x3(112, 128, 128, 1)),
        ("vgg_b3_56x256", conv3x3(56, 256, 256, 1)),
        ("vgg_b4_28x512", conv3x3(28, 512, 512, 1)),
        ("vgg_b5_14x512", conv3x3(14, 512, 512, 1)),
        ("s2_56x128to256", conv3x3(56, 128, 256, 2)),
        ("cifar_32x32to32", conv3x3(32, 32, 32, 1)),
        ("1x1_28x256to512", Geom { ih: 28, iw: 28, ic: 256, oh: 28, ow: 28, oc: 512, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, groups: 1 }),
    ]
}

fn macs(g: &Geom) -> u64 {
    (g.oh * g.ow * g.oc * g.kh * g.kw * (g.ic / g.groups)) as u64
}

fn conv_i8(c: &mut Criterion) {
    let mut grp = c.benchmark_group("conv2d_i8");
    grp.sample_size(10);
    for (name, g) in conv_shapes() {
        let b = Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, true);
        let x = data_i8(g.ih * g.iw * g.ic, 1);
        let plain = data_i8(g.oc * g.kh * g.kw * g.ic, 2);
        let mut w = vec![0i8; b.elements().unwrap()];
        pack_blocked_into(&plain, &b, &mut w);
        let bias = vec![100i32; g.oc];
        let mult = vec![1.0 / 4096.0; g.oc];
        let a = ConvI8 { g, x: &x, zx: -3, w: &w, packing: packing::BLOCKED, bias: &bias, mult: &mult, q: QOut { zy: -128, lo: -128, hi: 127 } };
        let mut y = vec![0i8; g.oh * g.ow * g.oc];
        grp.throughput(Throughput::Elements(macs(&g)));
        for k in kernels::available() {
            if k.name == "scalar" && macs(&g) > 200_000_000 {
                continue; // minutes per sample
            }
            grp.bench_function(BenchmarkId::new(k.name, name), |bch| { let mut s = vec![0u8; (k.conv2d_i8_scratch)(&a.g)]; bch.iter(|| (k.conv2d_i8)(black_box(&a), 0, &mut y, &mut s)) });
        }
    }
    grp.finish();
}

fn conv_f32(c: &mut Criterion) {
    let mut grp = c.benchmark_group("conv2d_f32");
    grp.sample_size(10);
    for (name, g) in conv_shapes().into_iter().filter(|(n, _)| !n.starts_with("vgg_b1") && !n.starts_with("vgg_b2")) {
        let b = Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, false);
        let x = data_f32(g.ih * g.iw * g.ic, 1);
        let plain = data_f32(g.oc * g.kh * g.kw * g.ic, 2);
        let mut w = vec![0f32; b.elements().unwrap()];
        pack_blocked_into(&plain, &b, &mut w);
        let bias = vec![0.5f32; g.oc];
        let a = ConvF32 { g, x: &x, w: &w, packing: packing::BLOCKED, bias: &bias, act: Activation::Relu };
        let mut y = vec![0f32; g.oh * g.ow * g.oc];
        grp.throughput(Throughput::Elements(macs(&g)));
        for k in kernels::available().filter(|k| k.name != "scalar") {
            grp.bench_function(BenchmarkId::new(k.name, name), |bch| { let mut s = vec![0u8; (k.conv2d_f32_scratch)(&a.g)]; bch.iter(|| (k.conv2d_f32)(black_box(&a), 0, &mut y, &mut s)) });
        }
    }
    grp.finish();
}

/// Depthwise 3x3 layers of a MobileNet-v1-like network through the depthwise slot (PLAIN
/// weights, as the compiler writes them; int8 and f32).
fn depthwise(c: &mut Criterion) {
    let dw = |hw: usize, ch: usize, s: usize| {
        let o = (hw + 2 - 3) / s + 1;
        Geom { ih: hw, iw: hw, ic: ch, oh: o, ow: o, oc: ch, kh: 3, kw: 3, sh: s, sw: s, dh: 1, dw: 1, pt: 1, pl: 1, groups: ch }
    };
    let mut grp = c.benchmark_group("depthwise");
    grp.sample_size(20);
    for (name, g) in [("dw_112x32", dw(112, 32, 1)), ("dw_56x128_s2", dw(56, 128, 2)), ("dw_28x256", dw(28, 256, 1)), ("dw_14x512", dw(14, 512, 1))] {
        let x = data_i8(g.ih * g.iw * g.ic, 1);
        let w = data_i8(g.oc * 9, 2);
        let bias = vec![100i32; g.oc];
        let mult = vec![1.0 / 512.0; g.oc];
        let a = ConvI8 { g, x: &x, zx: -3, w: &w, packing: packing::PLAIN, bias: &bias, mult: &mult, q: QOut { zy: -128, lo: -128, hi: 127 } };
        let (xf, wf) = (data_f32(g.ih * g.iw * g.ic, 1), data_f32(g.oc * 9, 2));
        let bf = vec![0.5f32; g.oc];
        let af = ConvF32 { g, x: &xf, w: &wf, packing: packing::PLAIN, bias: &bf, act: Activation::Relu };
        let (mut y, mut yf) = (vec![0i8; g.oh * g.ow * g.oc], vec![0f32; g.oh * g.ow * g.oc]);
        grp.throughput(Throughput::Elements(macs(&g)));
        for k in kernels::available() {
            grp.bench_function(BenchmarkId::new(format!("{}/i8", k.name), name), |bch| bch.iter(|| (k.dwconv2d_i8)(black_box(&a), 0, &mut y)));
            grp.bench_function(BenchmarkId::new(format!("{}/f32", k.name), name), |bch| bch.iter(|| (k.dwconv2d_f32)(black_box(&af), 0, &mut yf)));
        }
    }
    grp.finish();
}

fn dense(c: &mut Criterion) {
    let mut grp = c.benchmark_group("dense");
    for &(name, k, n) in &[("vgg_ft_dense1_25088x256", 25088usize, 256usize), ("cifar_dense1_2304x512", 2304, 512), ("head_256x12", 256, 12)] {
        let bi = Blocked::dense(n, k, true);
        let x = data_i8(k, 1);
        let mut w = vec![0i8; bi.elements().unwrap()];
        pack_blocked_into(&data_i8(n * k, 2), &bi, &mut w);
        let bias = vec![0i32; n];
        let mult = vec![1.0 / 8192.0; n];
        let a = DenseI8 { x: &x, zx: 5, w: &w, packing: packing::BLOCKED, bias: &bias, mult: &mult, q: QOut { zy: 0, lo: -128, hi: 127 } };
        let bf = Blocked::dense(n, k, false);
        let xf = data_f32(k, 1);
        let mut wf = vec![0f32; bf.elements().unwrap()];
        pack_blocked_into(&data_f32(n * k, 2), &bf, &mut wf);
        let biasf = vec![0f32; n];
        let af = DenseF32 { x: &xf, w: &wf, packing: packing::BLOCKED, bias: &biasf, act: Activation::None };
        let (mut y, mut yf) = (vec![0i8; n], vec![0f32; n]);
        grp.throughput(Throughput::Elements((n * k) as u64));
        for ks in kernels::available() {
            grp.bench_function(BenchmarkId::new(format!("{}_i8", ks.name), name), |bch| bch.iter(|| (ks.dense_i8)(black_box(&a), 0, &mut y)));
            grp.bench_function(BenchmarkId::new(format!("{}_f32", ks.name), name), |bch| bch.iter(|| (ks.dense_f32)(black_box(&af), 0, &mut yf)));
        }
    }
    grp.finish();
}

fn maxpool(c: &mut Criterion) {
    let mut grp = c.benchmark_group("maxpool_i8");
    let g = Geom { ih: 112, iw: 112, ic: 128, oh: 56, ow: 56, oc: 128, kh: 2, kw: 2, sh: 2, sw: 2, dh: 1, dw: 1, pt: 0, pl: 0, groups: 1 };
    let x = data_i8(112 * 112 * 128, 1);
    let mut y = vec![0i8; 56 * 56 * 128];
    grp.throughput(Throughput::Bytes(x.len() as u64));
    for k in kernels::available() {
        grp.bench_function(BenchmarkId::new(k.name, "112x112x128_2x2"), |bch| bch.iter(|| (k.maxpool_i8)(black_box(&g), &x, 0, &mut y)));
    }
    grp.finish();
}

/// Average pools: MobileNet's global 7x7x1024 and a 3x3 stride-1 pool (int8 and f32).
fn avgpool(c: &mut Criterion) {
    let mut grp = c.benchmark_group("avgpool");
    let shapes = [
        ("global_7x7x1024", Geom { ih: 7, iw: 7, ic: 1024, oh: 1, ow: 1, oc: 1024, kh: 7, kw: 7, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, groups: 1 }),
        ("28x28x256_3x3", Geom { ih: 28, iw: 28, ic: 256, oh: 28, ow: 28, oc: 256, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pl: 1, groups: 1 }),
    ];
    for (name, g) in shapes {
        let x = data_i8(g.ih * g.iw * g.ic, 1);
        let xf = data_f32(g.ih * g.iw * g.ic, 1);
        let (mut y, mut yf) = (vec![0i8; g.oh * g.ow * g.oc], vec![0f32; g.oh * g.ow * g.oc]);
        grp.throughput(Throughput::Elements((g.oh * g.ow * g.oc * g.kh * g.kw) as u64));
        for k in kernels::available() {
            grp.bench_function(BenchmarkId::new(format!("{}/i8", k.name), name), |bch| bch.iter(|| (k.avgpool_i8)(black_box(&g), false, -3, &x, 0, &mut y)));
            grp.bench_function(BenchmarkId::new(format!("{}/f32", k.name), name), |bch| bch.iter(|| (k.avgpool_f32)(black_box(&g), false, &xf, 0, &mut yf)));
        }
    }
    grp.finish();
}

criterion_group!(benches, conv_i8, conv_f32, depthwise, dense, maxpool, avgpool);
criterion_main!(benches);
