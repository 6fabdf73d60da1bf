//! Inference allocates nothing: a counting global allocator around set_input/run/output.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use kestrel_compiler::aligned::AlignedBuf;
use kestrel_runtime::Model;
use kestrel_tests::*;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn inference_does_not_allocate() {
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
            let before = ALLOCS.load(Ordering::SeqCst);
            m.set_input_f32(arena.as_mut_slice(), &x).expect("input");
            m.run(arena.as_mut_slice()).expect("run");
            m.output_f32(arena.as_slice(), &mut y).expect("output");
            let after = ALLOCS.load(Ordering::SeqCst);
            assert_eq!(after - before, 0, "{name} (int8: {int8}) allocated during inference");
        }
    }
}
