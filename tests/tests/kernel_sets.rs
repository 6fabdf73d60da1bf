//! Every kernel set this CPU can run (scalar reference, AVX2, AVX-512 VNNI, ...) gives the
//! same int8 output bytes on every reference workload, single-threaded and split across a
//! thread pool; f32 models agree within 1e-4 relative. On an AVX-512 VNNI machine the test
//! insists the SIMD sets are present, so it can't pass by running the scalar one only.

use kestrel_compiler::aligned::AlignedBuf;
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
