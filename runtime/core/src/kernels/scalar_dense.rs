//! Scalar reference dense layer (int8 and f32), weights in any packing ([`WLayout`]).
//! `acc = bias + Σ (x - zx) * w` (wrapping i32), then [`requantize`]; f32:
//! `act(Σ x * w + bias)`. BLOCKED weights are read a block of 16 outputs at a time.

use super::{dot_f32, dot_i8, finish_acc, requantize, DenseF32, DenseI8, WLayout};
use crate::format::packing::OC_BLOCK;

/// int8 dense. Writes outputs `n0..n0 + y.len()`.
pub fn scalar_dense_i8(a: &DenseI8<'_>, n0: usize, y: &mut [i8]) {
    let k = a.x.len();
    match WLayout::dense(a.packing, a.bias.len(), k, true) {
        WLayout::Blocked(b) if n0 % OC_BLOCK == 0 => {
            let (ig, row) = (b.ig, b.ig * OC_BLOCK);
            for (i, ys) in y.chunks_mut(OC_BLOCK).enumerate() {
                let c0 = n0 + i * OC_BLOCK;
                let blk = &a.w[(c0 / OC_BLOCK) * b.block_len()..][..b.block_len()];
                let (mut acc, mut wsum) = ([0i32; OC_BLOCK], [0i32; OC_BLOCK]);
                for (xg, wr) in a.x.chunks(ig).zip(blk.chunks_exact(row)) {
                    for l in 0..ys.len() {
                        let (d, s) = dot_i8(xg, &wr[l * ig..][..xg.len()]);
                        acc[l] = acc[l].wrapping_add(d);
                        wsum[l] = wsum[l].wrapping_add(s);
                    }
                }
                for (l, yv) in ys.iter_mut().enumerate() {
                    let n = c0 + l;
                    *yv = requantize(finish_acc(a.bias[n], acc[l], a.zx, wsum[l]), a.mult[n], a.q);
                }
            }
        }
        lay => {
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
    }
}

/// f32 dense with fused activation. Writes outputs `n0..n0 + y.len()`.
pub fn scalar_dense_f32(a: &DenseF32<'_>, n0: usize, y: &mut [f32]) {
    let k = a.x.len();
    match WLayout::dense(a.packing, a.bias.len(), k, false) {
        WLayout::Blocked(b) if n0 % OC_BLOCK == 0 => {
            for (i, ys) in y.chunks_mut(OC_BLOCK).enumerate() {
                let c0 = n0 + i * OC_BLOCK;
                let blk = &a.w[(c0 / OC_BLOCK) * b.block_len()..][..b.block_len()];
                let mut acc = [0f32; OC_BLOCK];
                for (&xv, wr) in a.x.iter().zip(blk.chunks_exact(OC_BLOCK)) {
                    for (s, &w) in acc.iter_mut().zip(wr) {
                        *s += xv * w;
                    }
                }
                for (l, yv) in ys.iter_mut().enumerate() {
                    *yv = a.act.apply(acc[l] + a.bias[c0 + l]);
                }
            }
        }
        lay => {
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
    }
}
