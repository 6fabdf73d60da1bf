//! `kestrel bench --peak`: the multiply-accumulate throughput this machine's cores reach in a
//! tight loop of the instruction our kernels are built on, with enough independent
//! accumulators to hide its latency: `vpdpbusd` on zmm for int8 (64 MACs) where AVX-512
//! VNNI exists, else `vpmaddwd` on ymm (16 MACs); `vfmadd231ps` on zmm (16 MACs) or ymm
//! (8 MACs) for f32. Run on `threads` threads at once; the result is the sum.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Measured peaks, in GMAC/s summed over the threads that ran.
#[derive(Debug, Clone, Serialize)]
pub struct Peak {
    /// int8 GMAC/s.
    pub int8_gmacs: f64,
    /// The int8 instruction measured.
    pub int8_instruction: &'static str,
    /// f32 GMAC/s.
    pub f32_gmacs: f64,
    /// The f32 instruction measured.
    pub f32_instruction: &'static str,
    /// Threads the probe ran on.
    pub threads: usize,
}

/// One probe: `(MACs per instruction, instruction name, fn(iterations) -> instructions)`.
type Probe = (f64, &'static str, fn(u64) -> u64);

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    const ACC: usize = 24;

    /// # Safety
    /// The CPU has AVX-512 F/BW/VNNI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dpbusd(n: u64) -> u64 {
        let a = _mm512_set1_epi8(std::hint::black_box(1));
        let b = _mm512_set1_epi8(std::hint::black_box(2));
        let mut acc = [_mm512_setzero_si512(); ACC];
        for _ in 0..n {
            for v in acc.iter_mut() {
                *v = _mm512_dpbusd_epi32(*v, a, b);
            }
        }
        std::hint::black_box(acc);
        n * ACC as u64
    }

    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn maddwd(n: u64) -> u64 {
        let a = _mm256_set1_epi16(std::hint::black_box(1));
        let b = _mm256_set1_epi16(std::hint::black_box(2));
        let mut acc = [_mm256_setzero_si256(); 12];
        for _ in 0..n {
            for v in acc.iter_mut() {
                *v = _mm256_add_epi32(*v, _mm256_madd_epi16(a, b));
            }
        }
        std::hint::black_box(acc);
        n * 12
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    unsafe fn fma512(n: u64) -> u64 {
        let a = _mm512_set1_ps(std::hint::black_box(1.0));
        let b = _mm512_set1_ps(std::hint::black_box(1e-9));
        let mut acc = [_mm512_setzero_ps(); ACC];
        for _ in 0..n {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(a, b, *v);
            }
        }
        std::hint::black_box(acc);
        n * ACC as u64
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma256(n: u64) -> u64 {
        let a = _mm256_set1_ps(std::hint::black_box(1.0));
        let b = _mm256_set1_ps(std::hint::black_box(1e-9));
        let mut acc = [_mm256_setzero_ps(); 12];
        for _ in 0..n {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(a, b, *v);
            }
        }
        std::hint::black_box(acc);
        n * 12
    }

    fn vnni() -> bool {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni")
    }

    pub fn int8() -> Option<super::Probe> {
        if vnni() {
            // SAFETY: the CPU features were checked just above.
            Some((64.0, "vpdpbusd zmm", |n| unsafe { dpbusd(n) }))
        } else if is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            Some((16.0, "vpmaddwd ymm", |n| unsafe { maddwd(n) }))
        } else {
            None
        }
    }

    pub fn f32() -> Option<super::Probe> {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: as above.
            Some((16.0, "vfmadd231ps zmm", |n| unsafe { fma512(n) }))
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            Some((8.0, "vfmadd231ps ymm", |n| unsafe { fma256(n) }))
        } else {
            None
        }
    }
}

/// GMAC/s of `probe` on `threads` threads at once, best of a few 100 ms rounds.
fn measure(probe: Probe, threads: usize) -> f64 {
    let (macs, _, f) = probe;
    let one = move || {
        let mut best = 0f64;
        let t_end = Instant::now() + Duration::from_millis(600);
        while Instant::now() < t_end {
            let t = Instant::now();
            let instr = f(2_000_000);
            best = best.max(instr as f64 * macs / t.elapsed().as_secs_f64() / 1e9);
        }
        best
    };
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads).map(|_| s.spawn(one)).collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    })
}

/// Measure this machine's int8 and f32 peaks on `threads` threads.
pub fn probe(threads: usize) -> Option<Peak> {
    #[cfg(target_arch = "x86_64")]
    {
        let (i8p, f32p) = (x86::int8()?, x86::f32()?);
        Some(Peak {
            int8_gmacs: measure(i8p, threads),
            int8_instruction: i8p.1,
            f32_gmacs: measure(f32p, threads),
            f32_instruction: f32p.1,
            threads,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (threads, measure as fn(Probe, usize) -> f64);
        None
    }
}
