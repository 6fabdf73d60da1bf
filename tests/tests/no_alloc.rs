//! Inference allocates nothing: a counting global allocator around set_input/run/output.

use kestrel_runtime::AlignedBuf;
use kestrel_engines::alloc_count::{self, Counting};
use kestrel_runtime::Model;
use kestrel_tests::*;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn inference_does_not_allocate() {
    assert!(alloc_count::start(), "the counting allocator is not the global allocator");
    for name in ["mnist_cnn_28", "cifar_cnn_32"] {
        let onnx = reference_onnx(name);
        for int8 in [false, true] {
            let g = import_optimized(&onnx, int8);
            let xs = inputs(&g, 4, 5);
            let kes = if int8 { compile_int8(&g, &xs).0 } else { compile_f32(&g) };
            let m = Model::load(kes.as_slice()).expect("load");
            let mut arena = AlignedBuf::zeroed(m.arena_size());
            let x = to_nhwc(&g, &xs[0]);
            let mut y = vec![0f32; m.output().len()];
            let before = alloc_count::count();
            m.set_input_f32(arena.as_mut_slice(), &x).expect("input");
            m.run(arena.as_mut_slice()).expect("run");
            m.output_f32(arena.as_slice(), &mut y).expect("output");
            let after = alloc_count::count();
            assert_eq!(after - before, 0, "{name} (int8: {int8}) allocated during inference");
        }
    }
}
