//! Every kernel set this CPU can run (scalar reference, AVX2, AVX-512 VNNI, ...) gives the
//! same int8 output bytes on every reference workload, single-threaded and split across a
//! thread pool; f32 models agree within 1e-4 relative. On an AVX-512 VNNI machine the test
//! insists the SIMD sets are present, so it can't pass by running the scalar one only.

use kestrel_runtime::AlignedBuf;
use kestrel_runtime::kernels::{self, Kernels};
use kestrel_runtime::{Model, Parallel, Sequential, ThreadPool};
use kestrel_tests::*;

fn sets() -> Vec<&'static Kernels> {
    let v: Vec<&'static Kernels> = kernels::available().collect();
    #[cfg(target_arch = "x86_64")]
    {
        let names: Vec<&str> = v.iter().map(|k| k.name).collect();
        if std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512bw") {
            assert!(names.contains(&"avx512vnni"), "{names:?}");
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            assert!(names.contains(&"avx2"), "{names:?}");
        }
    }
    assert_eq!(v.last().map(|k| k.name), Some("scalar"));
    v
}

/// The raw output bytes of one run.
fn run_raw(m: &Model<'_>, k: &Kernels, par: &dyn Parallel, x: &[f32]) -> Vec<u8> {
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    m.set_input_f32(arena.as_mut_slice(), x).expect("input");
    m.run_parallel(k, par, arena.as_mut_slice()).expect("run");
    let t = m.output();
    arena.as_slice()[t.offset..t.offset + t.size].to_vec()
}

fn int8_same_everywhere(name: &str, n: usize) {
    let g = import_optimized(&reference_onnx(name), true);
    let (kes, _) = compile_int8(&g, &inputs(&g, 2, 3));
    let m = Model::load(kes.as_slice()).expect("load");
    let pool = ThreadPool::new(3);
    for (i, x) in inputs(&g, n, 17).iter().enumerate() {
        let x = to_nhwc(&g, x);
        let want = run_raw(&m, &kernels::SCALAR, &Sequential, &x);
        for k in sets() {
            assert_eq!(run_raw(&m, k, &Sequential, &x), want, "{name} input {i}: {} differs from the scalar reference", k.name);
            assert_eq!(run_raw(&m, k, &pool, &x), want, "{name} input {i}: {} on 3 threads differs", k.name);
        }
    }
}

fn f32_close_everywhere(name: &str) {
    let g = import_optimized(&reference_onnx(name), false);
    let kes = compile_f32(&g);
    let m = Model::load(kes.as_slice()).expect("load");
    let pool = ThreadPool::new(2);
    let x = to_nhwc(&g, &inputs(&g, 1, 19)[0]);
    let f = |b: Vec<u8>| b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<f32>>();
    let want = f(run_raw(&m, &kernels::SCALAR, &Sequential, &x));
    for k in sets() {
        for par in [&Sequential as &dyn Parallel, &pool] {
            let got = f(run_raw(&m, k, par, &x));
            let e = rel_err(&got, &want);
            assert!(e <= 1e-4, "{name}: f32 {} differs from the scalar reference by {e} relative", k.name);
        }
    }
}

#[test]
fn mnist_cnn_28() {
    int8_same_everywhere("mnist_cnn_28", 20);
    f32_close_everywhere("mnist_cnn_28");
}

#[test]
fn cifar_cnn_32() {
    int8_same_everywhere("cifar_cnn_32", 10);
    f32_close_everywhere("cifar_cnn_32");
}

#[test]
fn vgg16_plants_150() {
    int8_same_everywhere("vgg16_plants_150", 1);
    f32_close_everywhere("vgg16_plants_150");
}

#[test]
fn vgg16_ft_224() {
    int8_same_everywhere("vgg16_ft_224", 1);
    f32_close_everywhere("vgg16_ft_224");
}

/// Files with PLAIN weights (as the first format version wrote them) still load, run on
/// every kernel set (their convs and dense layers take the scalar path) and give the same
/// bytes as the BLOCKED file of the same model.
#[test]
fn plain_packing_still_runs_and_agrees() {
    use kestrel_compiler::lower::{default_preprocess, lower_with, LowerOptions, Packing};
    use kestrel_compiler::quant::calibrate::{calibrate, Method};
    for name in ["mnist_cnn_28", "cifar_cnn_32"] {
        let g = import_optimized(&reference_onnx(name), true);
        let xs: Vec<Vec<f32>> = inputs(&g, 2, 3).iter().map(|x| to_nhwc(&g, x)).collect();
        let q = calibrate(&g, &xs, Method::MinMax, &mut || {}).expect("calibrate");
        let opts = LowerOptions { preprocess: default_preprocess(), labels: vec![] };
        let plain = AlignedBuf::from_bytes(&lower_with(&g, Some(&q), &opts, Packing::Plain).expect("lower").bytes);
        let blocked = AlignedBuf::from_bytes(&lower_with(&g, Some(&q), &opts, Packing::Auto).expect("lower").bytes);
        let (mp, mb) = (Model::load(plain.as_slice()).expect("plain loads"), Model::load(blocked.as_slice()).expect("blocked loads"));
        let packings = |m: &Model<'_>| (0..m.n_ops()).map(|i| m.op(i).packing).collect::<Vec<u8>>();
        assert!(packings(&mp).iter().all(|&p| p == kestrel_runtime::format::packing::PLAIN));
        assert!(packings(&mb).contains(&kestrel_runtime::format::packing::BLOCKED));
        for x in &xs {
            let want = run_raw(&mb, &kernels::SCALAR, &Sequential, x);
            for k in sets() {
                assert_eq!(run_raw(&mp, k, &Sequential, x), want, "{name}: PLAIN file on {}", k.name);
            }
        }
    }
}

/// A packing this runtime has no kernel for is refused at load with a typed error, never
/// run: flip the first conv's packing byte and re-seal the checksum.
#[test]
fn unknown_packing_is_refused() {
    use kestrel_runtime::format::{self, section};
    let g = import_optimized(&reference_onnx("mnist_cnn_28"), true);
    let (kes, _) = compile_int8(&g, &inputs(&g, 2, 3));
    let mut b = kes.as_slice().to_vec();
    let n = u32::from_le_bytes(b[24..28].try_into().unwrap()) as usize;
    let ops = (0..n)
        .map(|i| format::HEADER_LEN + i * format::SECTION_ENTRY_LEN)
        .find(|&e| u32::from_le_bytes(b[e..e + 4].try_into().unwrap()) == section::OPS)
        .map(|e| u32::from_le_bytes(b[e + 4..e + 8].try_into().unwrap()) as usize)
        .expect("ops section");
    assert_eq!(b[ops + format::op::KIND], kestrel_runtime::OpKind::Conv2d as u8);
    b[ops + format::op::PACKING] = 7;
    let crc = kestrel_runtime::crc32(&b[format::HEADER_LEN..]);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    let buf = AlignedBuf::from_bytes(&b);
    let e = Model::load(buf.as_slice()).expect_err("unknown packing accepted");
    assert_eq!(e, kestrel_runtime::Error::UnsupportedKernel { index: 0 });
}

/// Asking for a kernel set this CPU can't run names what is missing instead of crashing.
#[test]
fn missing_kernel_set_is_named() {
    assert!(kernels::by_name("scalar").is_ok());
    let e = kernels::by_name("sse9").expect_err("no such set");
    assert!(e.contains("unknown kernel set"), "{e}");
    for (name, feature) in [("avx512vnni", "AVX-512"), ("avx2", "AVX2"), ("neon", "NEON"), ("neon-dotprod", "dot product")] {
        if let Err(e) = kernels::by_name(name) {
            assert!(e.contains(feature), "{name}: {e}");
        }
    }
}
