//! Scalar reference dense layer (int8 and f32), weights `[n][k]`.

use super::{dot_f32, dot_i8, finish_acc, requantize, DenseF32, DenseI8};

/// int8 dense: `acc = bias + sum (x - zx) * w`, then [`requantize`].
pub fn scalar_dense_i8(a: &DenseI8<'_>, y: &mut [i8]) {
    let k = a.x.len();
    for (n, yv) in y.iter_mut().enumerate() {
        let (d, s) = dot_i8(a.x, &a.w[n * k..][..k]);
        *yv = requantize(finish_acc(a.bias[n], d, a.zx, s), a.mult[n], a.q);
    }
}

/// f32 dense with fused activation.
pub fn scalar_dense_f32(a: &DenseF32<'_>, y: &mut [f32]) {
    let k = a.x.len();
    for (n, yv) in y.iter_mut().enumerate() {
        *yv = a.act.apply(dot_f32(a.x, &a.w[n * k..][..k]) + a.bias[n]);
    }
}
