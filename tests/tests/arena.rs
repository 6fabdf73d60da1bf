//! The offline arena plan of every reference workload stays within 5% of the lower bound
//! (the largest sum of live tensors at any step), and its size is pinned so it can't grow
//! silently.

use kestrel_compiler::lower::{default_preprocess, lower, LowerOptions};
use kestrel_compiler::quant::{QParams, QuantInfo};
use kestrel_tests::*;

fn arena(name: &str, int8: bool) -> (usize, usize) {
    let g = import_optimized(&reference_onnx(name), int8);
    let q = QuantInfo { act: vec![Some(QParams { scale: 1.0, zero_point: 0 }); g.values.len()] };
    let opts = LowerOptions { preprocess: default_preprocess(), labels: vec![] };
    let l = lower(&g, if int8 { Some(&q) } else { None }, &opts).expect("lower");
    (l.arena, l.arena_lower_bound)
}

#[test]
fn arena_within_five_percent_of_lower_bound() {
    // (name, int8 arena bytes, f32 arena bytes): measured, pinned.
    let pinned: [(&str, usize, usize); 4] = [
        ("mnist_cnn_28", PIN_MNIST.0, PIN_MNIST.1),
        ("cifar_cnn_32", PIN_CIFAR.0, PIN_CIFAR.1),
        ("vgg16_plants_150", PIN_PLANTS.0, PIN_PLANTS.1),
        ("vgg16_ft_224", PIN_FT.0, PIN_FT.1),
    ];
    let mut failures = vec![];
    for (name, p8, p32) in pinned {
        for (int8, pin) in [(true, p8), (false, p32)] {
            let (a, lb) = arena(name, int8);
            eprintln!("{name} int8={int8}: arena {a} bytes, lower bound {lb} bytes ({:+.2}%)", 100.0 * (a as f64 / lb as f64 - 1.0));
            if a as f64 > lb as f64 * 1.05 {
                failures.push(format!("{name} (int8 {int8}): arena {a} is more than 5% above the lower bound {lb}"));
            }
            if a != pin {
                failures.push(format!("{name} (int8 {int8}): arena {a} differs from the pinned {pin}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("; "));
}

const PIN_MNIST: (usize, usize) = (5088, 20288);
const PIN_CIFAR: (usize, usize) = (61568, 246272);
const PIN_PLANTS: (usize, usize) = (2_880_000, 11_520_000);
const PIN_FT: (usize, usize) = (6_422_528, 25_690_112);
