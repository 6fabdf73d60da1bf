//! Whole models on every kernel set this CPU offers (x86 AVX2 / AVX-512 VNNI, aarch64 NEON /
//! dot product, ...): the int8 output bytes equal the scalar reference's on a few
//! deterministic inputs, run in one thread and (with `std`) split across a thread pool; the
//! input is quantized by each set's own `quantize`. f32 models agree within 1e-4 relative.
//!
//! It reads only checked-in `.kes` files, so it runs wherever this crate's tests run,
//! including `--target aarch64-unknown-linux-gnu` under qemu-aarch64 (`scripts/test.sh`
//! runs it once with a CPU that has the dot product and once without). The kernel-level
//! comparison on random shapes is `src/kernels/tests.rs`.
//!
//! `tests/golden/cifar_cnn_32.int8.kes` (seeded random weights, 1.3 MB, the largest model
//! here) was made with the `kestrel` CLI:
//! `kestrel zoo cifar_cnn_32 -o cifar_cnn_32.onnx --seed 1 --inputs calib --count 8` then
//! `kestrel compile cifar_cnn_32.onnx -o cifar_cnn_32.int8.kes --calib calib`.

use kestrel_runtime::kernels::{self, Kernels, SCALAR};
use kestrel_runtime::{DType, Model, Parallel, Sequential};

const MODELS: &[(&str, &[u8])] = &[
    ("tests/golden/mnist_cnn_28.int8.kes", include_bytes!("../../../tests/golden/mnist_cnn_28.int8.kes")),
    ("tests/golden/cifar_cnn_32.int8.kes", include_bytes!("../../../tests/golden/cifar_cnn_32.int8.kes")),
    ("models/mnist_cnn_28/model.kes", include_bytes!("../../../models/mnist_cnn_28/model.kes")),
    ("models/fashion-mnist/model.kes", include_bytes!("../../../models/fashion-mnist/model.kes")),
];

/// Inputs per model: fewer under emulation (qemu runs the scalar reference slowly).
const INPUTS: usize = if cfg!(target_arch = "x86_64") { 6 } else { 3 };

/// A 16-byte aligned byte buffer (model files and arenas).
struct Aligned(Vec<u128>, usize);

impl Aligned {
    fn new(len: usize) -> Aligned {
        Aligned(vec![0u128; len.div_ceil(16)], len)
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: `u128` has no padding and every byte pattern is a valid `u8`; the length
        // stays within the vector's `16 * len` bytes.
        unsafe { core::slice::from_raw_parts(self.0.as_ptr() as *const u8, self.1) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `bytes`, and the borrow is unique.
        unsafe { core::slice::from_raw_parts_mut(self.0.as_mut_ptr() as *mut u8, self.1) }
    }
}

/// Deterministic inputs in [0, 1) (xorshift), plus an all-zero and an all-one image.
fn inputs(n: usize, count: usize) -> Vec<Vec<f32>> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut v = vec![vec![0.0; n], vec![1.0; n]];
    for _ in 0..count.saturating_sub(2) {
        v.push(
            (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 40) as f32 / (1u64 << 24) as f32
                })
                .collect(),
        );
    }
    v
}

/// The raw output bytes of one run with kernel set `k` (which also quantizes the input).
fn run_raw(m: &Model<'_>, k: &Kernels, par: &dyn Parallel, x: &[f32]) -> Vec<u8> {
    let mut arena = Aligned::new(m.arena_size());
    let t = m.input();
    match t.dtype {
        DType::I8 => {
            let dst = m.input_bytes_mut(arena.bytes_mut()).expect("input");
            // SAFETY: i8 and u8 have the same size and alignment; any byte is a valid i8.
            let dst = unsafe { core::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut i8, dst.len()) };
            (k.quantize)(x, t.scale, t.zero_point, dst);
        }
        DType::F32 => m.set_input_f32(arena.bytes_mut(), x).expect("input"),
    }
    m.run_parallel(k, par, arena.bytes_mut()).expect("run");
    let o = m.output();
    arena.bytes()[o.offset..o.offset + o.size].to_vec()
}

fn check_model(path: &str, bytes: &[u8]) {
    let mut file = Aligned::new(bytes.len());
    file.bytes_mut().copy_from_slice(bytes);
    let m = Model::load(file.bytes()).unwrap_or_else(|e| panic!("{path}: {e}"));
    #[cfg(feature = "std")]
    let pool = kestrel_runtime::ThreadPool::new(3);
    let pars: Vec<(&str, &dyn Parallel)> = vec![
        ("1 thread", &Sequential),
        #[cfg(feature = "std")]
        ("3 threads", &pool),
    ];
    let sets: Vec<&Kernels> = kernels::available().collect();
    for (i, x) in inputs(m.input().len(), INPUTS).iter().enumerate() {
        let want = run_raw(&m, &SCALAR, &Sequential, x);
        for k in sets.iter().filter(|k| k.name != "scalar") {
            for &(pn, par) in &pars {
                let got = run_raw(&m, k, par, x);
                match m.output().dtype {
                    DType::I8 => assert_eq!(got, want, "{path} input {i}: {} ({pn}) differs from the scalar reference", k.name),
                    DType::F32 => {
                        let f = |b: &[u8]| b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<f32>>();
                        let (g, w) = (f(&got), f(&want));
                        let scale = w.iter().fold(1e-6f32, |a, v| a.max(v.abs()));
                        let e = g.iter().zip(&w).fold(0f32, |a, (p, q)| a.max((p - q).abs())) / scale;
                        assert!(e <= 1e-4, "{path} input {i}: f32 {} ({pn}) differs by {e} relative", k.name);
                    }
                }
            }
        }
    }
}

#[test]
fn mnist_cnn_28_golden() {
    check_model(MODELS[0].0, MODELS[0].1);
}

#[test]
fn cifar_cnn_32_golden() {
    check_model(MODELS[1].0, MODELS[1].1);
}

#[test]
fn mnist_cnn_28_trained() {
    check_model(MODELS[2].0, MODELS[2].1);
}

#[test]
fn fashion_mnist_trained() {
    check_model(MODELS[3].0, MODELS[3].1);
}

/// The two VGG16 reference workloads (`vgg16_plants_150`, `vgg16_ft_224`: 6.6 and 15.4 GMAC)
/// on the aarch64 sets. They are too large to check in, so `scripts/test.sh` generates them
/// on the host (`kestrel zoo NAME --seed 1` + `kestrel compile --calib`) and names the
/// `.kes` files in `KESTREL_PARITY_MODELS` (colon-separated). One input each, split over a
/// 2-thread pool (qemu runs threads on host cores); every set's output bytes must equal the
/// scalar reference's. On x86_64 the same workloads are checked from ONNX by
/// `tests/tests/kernel_sets.rs`.
#[cfg(all(target_arch = "aarch64", feature = "std"))]
#[test]
fn vgg16_workloads_from_env() {
    let list = std::env::var("KESTREL_PARITY_MODELS").unwrap_or_else(|_| {
        panic!(
            "KESTREL_PARITY_MODELS is not set: it names the VGG16 .kes files this test compares \
             (scripts/test.sh makes them with `kestrel zoo vgg16_ft_224 -o m.onnx --inputs calib` and \
             `kestrel compile m.onnx -o m.kes --calib calib`)"
        )
    });
    let pool = kestrel_runtime::ThreadPool::new(2);
    let sets: Vec<&Kernels> = kernels::available().filter(|k| k.name != "scalar").collect();
    assert!(!sets.is_empty(), "no SIMD kernel set on this CPU");
    let mut n = 0;
    for path in list.split(':').filter(|p| !p.is_empty()) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut file = Aligned::new(bytes.len());
        file.bytes_mut().copy_from_slice(&bytes);
        let m = Model::load(file.bytes()).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(m.output().dtype, DType::I8, "{path}: not an int8 model");
        let x = &inputs(m.input().len(), 3)[2];
        let t = std::time::Instant::now();
        let want = run_raw(&m, &SCALAR, &pool, x);
        eprintln!("{path}: scalar {:.1} s", t.elapsed().as_secs_f64());
        for k in &sets {
            let t = std::time::Instant::now();
            let got = run_raw(&m, k, &pool, x);
            eprintln!("{path}: {} {:.1} s, output {}", k.name, t.elapsed().as_secs_f64(), if got == want { "identical" } else { "DIFFERS" });
            assert_eq!(got, want, "{path}: {} differs from the scalar reference", k.name);
        }
        n += 1;
    }
    assert!(n > 0, "KESTREL_PARITY_MODELS names no file");
}
