//! f32 point-wise functions ([`Unary`]): Sigmoid, HardSigmoid, HardSwish, Swish, Tanh,
//! Elu, Selu, Softplus. One scalar loop on every target (transcendental and memory-bound);
//! int8 models run the same functions as 256-entry tables ([`super::lut_i8`]).

use crate::ops::Unary;

/// `y[i] = u.apply(x[i])`.
pub fn unary_f32(u: Unary, x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = u.apply(v);
    }
}
