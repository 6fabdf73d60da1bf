//! Scalar reference dense layer (int8 and f32), weights in any packing ([`WLayout`]).

use super::{dot_f32, dot_i8, finish_acc, requantize, DenseF32, DenseI8, WLayout};

/// int8 dense: `acc = bias + sum (x - zx) * w`, then [`requantize`]. Writes outputs
/// `n0..n0 + y.len()`.
pub fn scalar_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    let k = a.x.len();
    let lay = WLayout::dense(a.packing, a.bias.len(), k, true);
    let run = lay.run();
    for (i, yv) in y.iter_mut().enumerate() {
        let n = n0 + i;
        let (mut acc, mut wsum) = (0i32, 0i32);
        for c in (0..k).step_by(run) {
            let len = run.min(k - c);
            let (d, s) = dot_i8(&a.x[c..][..len], &a.w[lay.index(n, 0, c)..][..len]);
            acc = acc.wrapping_add(d);
            wsum = wsum.wrapping_add(s);
        }
        *yv = requantize(finish_acc(a.bias[n], acc, a.zx, wsum), a.mult[n], a.q);
    }
}

/// f32 dense with fused activation. Writes outputs `n0..n0 + y.len()`.
pub fn scalar_dense_f32(a: &DenseF32<'_>, n0: usize, y: &mut [f32]) {
    let k = a.x.len();
    let lay = WLayout::dense(a.packing, a.bias.len(), k, false);
    let run = lay.run();
    for (i, yv) in y.iter_mut().enumerate() {
        let n = n0 + i;
        let mut acc = 0f32;
        for c in (0..k).step_by(run) {
            let len = run.min(k - c);
            acc += dot_f32(&a.x[c..][..len], &a.w[lay.index(n, 0, c)..][..len]);
        }
        *yv = a.act.apply(acc + a.bias[n]);
    }
}
