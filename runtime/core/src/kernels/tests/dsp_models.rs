//! The two VGG16 reference workloads through the Cortex-M `dsp` set, as the host runs it
//! in this crate's unit tests: its tiling, packing walk and requantization with portable
//! versions of `sxtb16` / `sxtab16` / `smlad` (`cortexm/instr.rs`). VGG16 (15 MB of int8
//! weights) fits no Cortex-M4's flash, so this is the whole-model check the `dsp` code gets
//! on these workloads; the real instructions are checked under qemu-system-arm on random
//! shapes and three smaller models (`tests/cortex-m-kernels`). Output bytes must equal the
//! scalar reference's.
//!
//! The `.kes` files come from `KESTREL_PARITY_MODELS` (colon-separated), which
//! `scripts/test.sh` sets after generating them with `kestrel zoo` + `kestrel compile`.

use alloc::vec::Vec;

use crate::{Model, Sequential};

#[test]
fn dsp_set_on_vgg16_workloads() {
    let list = std::env::var("KESTREL_PARITY_MODELS").unwrap_or_else(|_| {
        panic!(
            "KESTREL_PARITY_MODELS is not set: it names the VGG16 .kes files this test compares \
             (scripts/test.sh makes them with `kestrel zoo vgg16_ft_224 -o m.onnx --inputs calib` and \
             `kestrel compile m.onnx -o m.kes --calib calib`)"
        )
    });
    let dsp = super::super::cortexm::dsp().expect("the dsp set (portable) in unit tests");
    let mut n = 0;
    for path in list.split(':').filter(|p| !p.is_empty()) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut file: Vec<u128> = alloc::vec![0; bytes.len().div_ceil(16)];
        // SAFETY: u128 has no padding; the byte view stays within the vector.
        let fb = unsafe { core::slice::from_raw_parts_mut(file.as_mut_ptr() as *mut u8, bytes.len()) };
        fb.copy_from_slice(&bytes);
        let m = Model::load(fb).unwrap_or_else(|e| panic!("{path}: {e}"));
        let run = |k: &super::Kernels| {
            let mut arena: Vec<u128> = alloc::vec![0; m.arena_size().div_ceil(16)];
            // SAFETY: as above.
            let ab = unsafe { core::slice::from_raw_parts_mut(arena.as_mut_ptr() as *mut u8, m.arena_size()) };
            let x: Vec<f32> = (0..m.input().len()).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
            m.set_input_f32(ab, &x).expect("input");
            m.run_parallel(k, &Sequential, ab).expect("run");
            let o = m.output();
            ab[o.offset..o.offset + o.size].to_vec()
        };
        assert_eq!(run(dsp), run(&super::SCALAR), "{path}: dsp output differs from the scalar reference");
        n += 1;
    }
    assert!(n > 0, "KESTREL_PARITY_MODELS names no file");
}
