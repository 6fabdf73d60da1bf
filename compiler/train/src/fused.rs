//! CPU training kernels Candle lacks a fast path for, as custom ops with their backward:
//! BatchNorm in training mode (batch statistics over N, H, W per channel) and 2-D max
//! pooling. Candle builds both from broadcasts whose backward reduces over non-contiguous
//! axes (BatchNorm) or from upsample / compare / average-pool chains (max pooling), which
//! took most of a training step on the Fashion-MNIST CNN.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else { candle_core::bail!("f32 tensors only") };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("contiguous tensors only"),
    }
}

/// `[B, C, H, W]` or `[B, C]` as (batch, channels, spatial).
fn bcs(shape: &Shape) -> Result<(usize, usize, usize)> {
    let d = shape.dims();
    match d.len() {
        2 => Ok((d[0], d[1], 1)),
        4 => Ok((d[0], d[1], d[2] * d[3])),
        _ => candle_core::bail!("batch norm: rank 2 or 4 only"),
    }
}

/// Per-channel mean and (biased) variance over everything but the channel axis.
pub fn channel_stats(x: &[f32], b: usize, c: usize, s: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (b * s) as f64;
    let mut mean = vec![0f32; c];
    let mut var = vec![0f32; c];
    for ci in 0..c {
        let mut sum = 0f64;
        for bi in 0..b {
            sum += x[(bi * c + ci) * s..(bi * c + ci + 1) * s].iter().map(|&v| v as f64).sum::<f64>();
        }
        let m = sum / n;
        let mut sq = 0f64;
        for bi in 0..b {
            sq += x[(bi * c + ci) * s..(bi * c + ci + 1) * s].iter().map(|&v| (v as f64 - m) * (v as f64 - m)).sum::<f64>();
        }
        mean[ci] = m as f32;
        var[ci] = (sq / n) as f32;
    }
    (mean, var)
}

/// BatchNorm with batch statistics: `y = gamma * (x - mean) / sqrt(var + eps) + beta`.
#[derive(Debug, Clone, Copy)]
pub struct BatchNormTrain {
    /// Epsilon.
    pub eps: f32,
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "kestrel-batchnorm-train"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, gamma, beta) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (b, c, s) = bcs(l1.shape())?;
        let (mean, var) = channel_stats(x, b, c, s);
        let mut y = vec![0f32; x.len()];
        for bi in 0..b {
            for ci in 0..c {
                let k = gamma[ci] / (var[ci] + self.eps).sqrt();
                let o = beta[ci] - mean[ci] * k;
                let r = (bi * c + ci) * s..(bi * c + ci + 1) * s;
                for (yv, xv) in y[r.clone()].iter_mut().zip(&x[r]) {
                    *yv = xv * k + o;
                }
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, gamma: &Tensor, _beta: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let packed = x.contiguous()?.apply_op3_no_bwd(&gamma.contiguous()?, &grad.contiguous()?, &BatchNormBwd { eps: self.eps })?;
        let n = x.elem_count();
        let c = gamma.elem_count();
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dgamma = packed.narrow(0, n, c)?;
        let dbeta = packed.narrow(0, n + c, c)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// The backward of [`BatchNormTrain`]: `[dx | dgamma | dbeta]` flat.
struct BatchNormBwd {
    eps: f32,
}

impl CustomOp3 for BatchNormBwd {
    fn name(&self) -> &'static str {
        "kestrel-batchnorm-train-bwd"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, gamma, dy) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (b, c, s) = bcs(l1.shape())?;
        let (mean, var) = channel_stats(x, b, c, s);
        let n = (b * s) as f32;
        let mut out = vec![0f32; x.len() + 2 * c];
        for ci in 0..c {
            let inv = 1.0 / (var[ci] + self.eps).sqrt();
            let (mut sdy, mut sdyx) = (0f64, 0f64);
            for bi in 0..b {
                let r = (bi * c + ci) * s..(bi * c + ci + 1) * s;
                for (g, xv) in dy[r.clone()].iter().zip(&x[r]) {
                    sdy += *g as f64;
                    sdyx += (*g * (xv - mean[ci]) * inv) as f64;
                }
            }
            let (mdy, mdyx) = (sdy as f32 / n, sdyx as f32 / n);
            let k = gamma[ci] * inv;
            for bi in 0..b {
                let r = (bi * c + ci) * s..(bi * c + ci + 1) * s;
                for ((o, g), xv) in out[r.clone()].iter_mut().zip(&dy[r.clone()]).zip(&x[r]) {
                    let xh = (xv - mean[ci]) * inv;
                    *o = k * (g - mdy - xh * mdyx);
                }
            }
            out[x.len() + ci] = sdyx as f32;
            out[x.len() + c + ci] = sdy as f32;
        }
        Ok((CpuStorage::F32(out), Shape::from(x.len() + 2 * c)))
    }
}

/// Batch mean and variance per channel, `[2, C]`, without gradient.
pub struct BatchStats;

impl CustomOp1 for BatchStats {
    fn name(&self) -> &'static str {
        "kestrel-batch-stats"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let (b, c, sp) = bcs(l.shape())?;
        let (mut m, v) = channel_stats(x, b, c, sp);
        m.extend(v);
        Ok((CpuStorage::F32(m), Shape::from((2, c))))
    }
}

/// Max pooling of `[B, C, H, W]` without padding (pad before), floor mode.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool {
    /// Kernel (h, w).
    pub k: [usize; 2],
    /// Stride (h, w).
    pub s: [usize; 2],
}

impl MaxPool {
    fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        ((h - self.k[0]) / self.s[0] + 1, (w - self.k[1]) / self.s[1] + 1)
    }

    /// For every output: the input index (within its plane) of the first maximum.
    fn argmax(&self, plane: &[f32], h: usize, w: usize) -> Vec<usize> {
        let (oh, ow) = self.out_hw(h, w);
        let mut out = Vec::with_capacity(oh * ow);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = (oy * self.s[0]) * w + ox * self.s[1];
                for ky in 0..self.k[0] {
                    for kx in 0..self.k[1] {
                        let i = (oy * self.s[0] + ky) * w + ox * self.s[1] + kx;
                        if plane[i] > plane[best] {
                            best = i;
                        }
                    }
                }
                out.push(best);
            }
        }
        out
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "kestrel-maxpool"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = l.shape().dims4()?;
        let x = slice(s, l)?;
        let (oh, ow) = self.out_hw(h, w);
        let mut y = Vec::with_capacity(b * c * oh * ow);
        for p in 0..b * c {
            let plane = &x[p * h * w..(p + 1) * h * w];
            y.extend(self.argmax(plane, h, w).into_iter().map(|i| plane[i]));
        }
        Ok((CpuStorage::F32(y), Shape::from((b, c, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, self)?))
    }
}

impl CustomOp2 for MaxPool {
    fn name(&self) -> &'static str {
        "kestrel-maxpool-bwd"
    }

    /// `(x, dy)` → dx: each output's gradient goes to its first maximum.
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = l1.shape().dims4()?;
        let (x, dy) = (slice(s1, l1)?, slice(s2, l2)?);
        let (oh, ow) = self.out_hw(h, w);
        let mut dx = vec![0f32; x.len()];
        for p in 0..b * c {
            let plane = &x[p * h * w..(p + 1) * h * w];
            let g = &dy[p * oh * ow..(p + 1) * oh * ow];
            for (o, i) in self.argmax(plane, h, w).into_iter().enumerate() {
                dx[p * h * w + i] += g[o];
            }
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn maxdiff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).expect("sub").abs().expect("abs").flatten_all().expect("f").max(0).expect("max").to_scalar::<f32>().expect("s")
    }

    #[test]
    fn batchnorm_matches_the_composed_ops() {
        let dev = Device::Cpu;
        for shape in [vec![4usize, 3, 5, 6], vec![8, 5]] {
            let x = Var::randn(1f32, 2.0, shape.as_slice(), &dev).expect("x");
            let c = shape[1];
            let gamma = Var::randn(1f32, 0.3, c, &dev).expect("g");
            let beta = Var::randn(0f32, 0.3, c, &dev).expect("b");
            let mine = x.apply_op3(gamma.as_tensor(), beta.as_tensor(), BatchNormTrain { eps: 1e-3 }).expect("bn");
            let dims: Vec<usize> = (0..shape.len()).filter(|&d| d != 1).collect();
            let mut bshape = vec![1usize; shape.len()];
            bshape[1] = c;
            let mean = x.mean_keepdim(dims.as_slice()).expect("m");
            let var = x.broadcast_sub(&mean).expect("s").sqr().expect("q").mean_keepdim(dims.as_slice()).expect("v");
            let theirs = x
                .broadcast_sub(&mean).expect("s")
                .broadcast_div(&(var + 1e-3).expect("e").sqrt().expect("r")).expect("d")
                .broadcast_mul(&gamma.reshape(bshape.as_slice()).expect("r")).expect("m")
                .broadcast_add(&beta.reshape(bshape.as_slice()).expect("r")).expect("a");
            assert!(maxdiff(&mine, &theirs) < 1e-4);
            let up = Tensor::randn(0f32, 1.0, shape.as_slice(), &dev).expect("up");
            let g1 = (mine * &up).expect("m").sum_all().expect("s").backward().expect("b");
            let g2 = (theirs * &up).expect("m").sum_all().expect("s").backward().expect("b");
            for v in [&x, &gamma, &beta] {
                let d = maxdiff(g1.get(v.as_tensor()).expect("g"), g2.get(v.as_tensor()).expect("g"));
                assert!(d < 1e-3, "{shape:?}: {d}");
            }
        }
    }

    #[test]
    fn maxpool_forward_matches_candle_and_routes_gradients_to_the_max() {
        let dev = Device::Cpu;
        let x = Var::randn(0f32, 1.0, (2, 3, 8, 6), &dev).expect("x");
        let mine = x.apply_op1(MaxPool { k: [2, 2], s: [2, 2] }).expect("pool");
        let theirs = x.max_pool2d_with_stride(2, 2).expect("pool");
        assert_eq!(maxdiff(&mine, &theirs), 0.0);
        let up = Tensor::randn(0f32, 1.0, mine.dims(), &dev).expect("up");
        let g = (mine.clone() * &up).expect("m").sum_all().expect("s").backward().expect("b");
        let dx = g.get(x.as_tensor()).expect("g").flatten_all().expect("f").to_vec1::<f32>().expect("v");
        let xv = x.flatten_all().expect("f").to_vec1::<f32>().expect("v");
        let (yv, uv) = (mine.flatten_all().expect("f").to_vec1::<f32>().expect("v"), up.flatten_all().expect("f").to_vec1::<f32>().expect("v"));
        // Every input gets its window's upstream gradient if it is the window's max, else 0.
        for p in 0..6 {
            for y in 0..8 {
                for xx in 0..6 {
                    let i = p * 48 + y * 6 + xx;
                    let o = p * 12 + (y / 2) * 3 + xx / 2;
                    let want = if xv[i] == yv[o] { uv[o] } else { 0.0 };
                    assert_eq!(dx[i], want, "plane {p} at ({y}, {xx})");
                }
            }
        }
    }
}
