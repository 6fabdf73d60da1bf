//! Local response normalization across channels ([`crate::OpKind::Lrn`], ONNX LRN) on NHWC
//! pixels. One loop for f32 and int8: int8 dequantizes each input, computes in f32 and
//! quantizes with the output's parameters (as [`super::softmax_i8`] does, and as ONNX Runtime
//! runs the QDQ export's `DequantizeLinear → LRN → QuantizeLinear`), so the two differ only
//! by f32 rounding: at most 1 LSB. No kernel set overrides it; every set routes here.

use super::quantize_f32;
use crate::ops::Lrn;

/// f32 LRN over pixels of `c` channels.
pub fn lrn_f32(x: &[f32], c: usize, p: &Lrn, y: &mut [f32]) {
    lrn(x, c, p, |v| v, |v| v, y);
}

/// int8 LRN over pixels of `c` channels: input `(sx, zx)`, output `(sy, zy)`.
#[allow(clippy::too_many_arguments)]
pub fn lrn_i8(x: &[i8], c: usize, p: &Lrn, sx: f32, zx: i32, sy: f32, zy: i32, y: &mut [i8]) {
    lrn(x, c, p, |v| (v as i32 - zx) as f32 * sx, |v| quantize_f32(v, sy, zy), y);
}

/// `y[c] = x[c] * (bias + alpha / size * sum(x[k]^2))^-beta` over the window of [`Lrn`]
/// (clipped to the channels that exist), `x` read through `load` and `y` written
/// through `store`.
fn lrn<T: Copy>(x: &[T], c: usize, p: &Lrn, load: impl Fn(T) -> f32, store: impl Fn(f32) -> T, y: &mut [T]) {
    if c == 0 {
        return;
    }
    let (before, after) = ((p.size - 1) / 2, p.size / 2);
    let scale = p.alpha / p.size as f32;
    for (xp, yp) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
        for (ch, o) in yp.iter_mut().enumerate() {
            let window = &xp[ch.saturating_sub(before)..(ch + after + 1).min(c)];
            let sum: f32 = window.iter().map(|&v| load(v) * load(v)).sum();
            *o = store(load(xp[ch]) * libm::powf(p.bias + scale * sum, -p.beta));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_onnx_formula_with_clipped_windows() {
        let p = Lrn { size: 3, alpha: 0.6, beta: 0.75, bias: 2.0 };
        // Two pixels of four channels.
        let x = [1.0f32, -2.0, 3.0, 0.5, 0.0, 1.0, 1.0, -1.0];
        let mut y = [0f32; 8];
        lrn_f32(&x, 4, &p, &mut y);
        for (px, (xs, ys)) in x.chunks(4).zip(y.chunks(4)).enumerate() {
            for ch in 0..4usize {
                let lo = ch.saturating_sub(1);
                let hi = (ch + 1).min(3);
                let sum: f32 = xs[lo..=hi].iter().map(|v| v * v).sum();
                let want = xs[ch] / (2.0f32 + 0.2 * sum).powf(0.75);
                assert!((ys[ch] - want).abs() <= 1e-6 * want.abs().max(1.0), "pixel {px} channel {ch}: {} vs {want}", ys[ch]);
            }
        }
        // An even size looks one channel further after than before (ONNX's floor / ceil).
        let p = Lrn { size: 2, alpha: 2.0, beta: 1.0, bias: 1.0 };
        let x = [1.0f32, 2.0, 3.0];
        let mut y = [0f32; 3];
        lrn_f32(&x, 3, &p, &mut y);
        for (got, want) in y.iter().zip([1.0 / (1.0 + 5.0), 2.0 / (1.0 + 13.0), 3.0 / (1.0 + 9.0)]) {
            assert!((got - want).abs() <= 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn int8_is_the_f32_math_on_dequantized_values() {
        let p = Lrn { size: 5, alpha: 1e-2, beta: 0.75, bias: 1.0 };
        let x: [i8; 10] = [-128, -60, -3, 0, 5, 17, 40, 90, 126, 127];
        let (sx, zx, sy, zy) = (0.05, -3, 0.03, 4);
        let mut y = [0i8; 10];
        lrn_i8(&x, 5, &p, sx, zx, sy, zy, &mut y);
        let xf: Vec<f32> = x.iter().map(|&v| (v as i32 - zx) as f32 * sx).collect();
        let mut yf = [0f32; 10];
        lrn_f32(&xf, 5, &p, &mut yf);
        let want: Vec<i8> = yf.iter().map(|&v| quantize_f32(v, sy, zy)).collect();
        assert_eq!(y.to_vec(), want);
    }
}
