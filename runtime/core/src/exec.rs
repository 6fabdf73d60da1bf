//! The executor: runs a validated model's ops in order inside the caller's arena.
//! No allocation; activations are in the file's arena plan, conv kernels' scratch in regions
//! after it (`scratch.rs`, one per part). Conv, dense and max-pool outputs are split into
//! parts (rows, or blocks of output channels) through [`Parallel`].

use crate::cast;
use crate::format::{packing::OC_BLOCK, BUFFER_ALIGN};
use crate::kernels::{self, ConvF32, ConvI8, DenseF32, DenseI8, Geom, Kernels, QOut};
use crate::model::{check_arena, Model, TensorInfo};
use crate::ops::{Activation, Blob, Op, OpKind};
use crate::parallel::{Parallel, MIN_PART_MACS};
use crate::scratch::{part_scratch, Regions};
use crate::{Error, Result};

/// Product of `dims` as u64, saturating (for work estimates only).
fn macs(dims: &[usize]) -> u64 {
    dims.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64))
}

/// Split `y` (`units` units of `unit_bytes`, `work` MACs in all) into at most
/// `par.workers()` parts of whole units, each a multiple of `align` units (except the
/// last), and call `f(first_unit, part)` for each.
fn split_work(par: &dyn Parallel, y: &mut [u8], units: usize, unit_bytes: usize, align: usize, work: u64, f: &(dyn Fn(usize, &mut [u8]) + Sync)) {
    split_parts(par, y, units, unit_bytes, align, work, usize::MAX, &|_, u, c| f(u, c));
}

/// [`split_work`] into at most `max_parts` parts, calling `f(part, first_unit, part_bytes)`.
#[allow(clippy::too_many_arguments)]
fn split_parts(par: &dyn Parallel, y: &mut [u8], units: usize, unit_bytes: usize, align: usize, work: u64, max_parts: usize, f: &(dyn Fn(usize, usize, &mut [u8]) + Sync)) {
    let by_work = (work / MIN_PART_MACS).max(1) as usize;
    let parts = par.workers().min(by_work).min(units.div_ceil(align)).min(max_parts).max(1);
    if parts == 1 {
        f(0, 0, y);
        return;
    }
    let per = units.div_ceil(align).div_ceil(parts) * align;
    par.for_chunks(y, per * unit_bytes, &|i, c| f(i, i * per, c));
}

/// Work of op `i`: `(macs, work)` — multiply-accumulates of a conv or dense, and of every
/// op the elementary operations it performs (window taps for pools, elements otherwise).
/// Fixed by the validated shapes: no op's work depends on the data it reads.
pub(crate) fn op_work(m: &Model<'_>, i: usize) -> (u64, u64) {
    let op = m.op(i);
    let (x, y) = (m.tensor(op.in0 as usize), m.tensor(op.out as usize));
    let g = geom(&op, &x, &y);
    match op.op_kind() {
        Some(OpKind::Conv2d) => {
            let n = macs(&[g.oh, g.ow, g.oc, g.kh, g.kw, g.ic / g.groups.max(1)]);
            (n, n)
        }
        Some(OpKind::Dense) => {
            let n = macs(&[y.len(), x.len()]);
            (n, n)
        }
        Some(OpKind::MaxPool | OpKind::AvgPool) => (0, macs(&[g.oh, g.ow, g.oc, g.kh, g.kw])),
        _ => (0, macs(&[y.len(), 2])),
    }
}

type Range = (usize, usize);

/// Split the arena into the output range (mutable) and up to two input ranges (shared).
/// Validation guarantees the ranges are in bounds and that inputs don't overlap the output.
fn split(arena: &mut [u8], out: Range, ins: [Range; 2]) -> Option<(&mut [u8], [&[u8]; 2])> {
    let (lo, rest) = arena.split_at_mut(out.0);
    let (o, hi) = rest.split_at_mut(out.1);
    let (lo, hi): (&[u8], &[u8]) = (lo, hi);
    let base = out.0 + out.1;
    let get = |r: Range| -> Option<&[u8]> {
        if r.1 == 0 {
            Some(&[])
        } else if r.0 + r.1 <= out.0 {
            lo.get(r.0..r.0 + r.1)
        } else {
            hi.get(r.0.checked_sub(base)?..)?.get(..r.1)
        }
    };
    Some((o, [get(ins[0])?, get(ins[1])?]))
}

pub(crate) fn geom(op: &Op, x: &TensorInfo, y: &TensorInfo) -> Geom {
    Geom {
        ih: x.dims[1],
        iw: x.dims[2],
        ic: x.dims[3],
        oh: y.dims[1],
        ow: y.dims[2],
        oc: y.dims[3],
        kh: op.kh as usize,
        kw: op.kw as usize,
        sh: op.sh as usize,
        sw: op.sw as usize,
        dh: op.dh as usize,
        dw: op.dw as usize,
        pt: op.pad_t as usize,
        pl: op.pad_l as usize,
        groups: op.groups as usize,
    }
}

/// Output clamp range of an int8 op with a fused ReLU/Clip.
fn qout(y: &TensorInfo, act: Activation) -> QOut {
    let (mut lo, mut hi) = (-128, 127);
    match act {
        Activation::Relu => lo = lo.max(y.zero_point),
        Activation::Clip(a, b) => {
            lo = lo.max(kernels::quantize_f32(a, y.scale, y.zero_point) as i32);
            hi = hi.min(kernels::quantize_f32(b, y.scale, y.zero_point) as i32);
        }
        _ => {}
    }
    QOut { zy: y.zero_point, lo, hi }
}

pub(crate) fn run(
    m: &Model<'_>,
    k: &Kernels,
    par: &dyn Parallel,
    arena: &mut [u8],
    observe: &mut dyn FnMut(usize, &[u8]),
) -> Result<()> {
    check_arena(m, arena)?;
    let plan = m.meta.arena_size.div_ceil(BUFFER_ALIGN) * BUFFER_ALIGN;
    for i in 0..m.n_ops() {
        let (acts, scratch) = arena.split_at_mut(plan.min(arena.len()));
        run_op(m, k, par, i, acts, scratch)?;
        observe(i, arena);
    }
    Ok(())
}

fn run_op(m: &Model<'_>, k: &Kernels, par: &dyn Parallel, i: usize, arena: &mut [u8], scratch: &mut [u8]) -> Result<()> {
    let op = m.op(i);
    let mis = Error::ArenaMisaligned { required: BUFFER_ALIGN };
    let bad = Error::BadOp { index: i, what: "inconsistent op (not validated)" };
    let kind = op.op_kind().ok_or(bad)?;
    let act = op.activation().ok_or(bad)?;
    let x = m.tensor(op.in0 as usize);
    let y = m.tensor(op.out as usize);
    let b = if op.in1 == crate::format::NO_TENSOR { None } else { Some(m.tensor(op.in1 as usize)) };
    let in1 = b.map_or((0, 0), |t| (t.offset, t.size));
    let (yb, [xb, bb]) = split(arena, (y.offset, y.size), [(x.offset, x.size), in1]).ok_or(bad)?;
    let w = m.weights();
    let blob = |bl: Blob| w.get(bl.offset as usize..bl.offset as usize + bl.len as usize).ok_or(bad);
    let int8 = x.dtype == crate::DType::I8;
    let g = geom(&op, &x, &y);
    // Work of one conv/pool output row and of one dense output, for the split.
    let row_macs = macs(&[g.ow, g.oc, g.kh, g.kw, g.ic / g.groups.max(1)]);
    let (ydims, elem) = (y.dims, if int8 { 1 } else { 4 });
    let row_bytes = ydims[2] * ydims[3] * elem;
    // Parts are whole rows / blocks of a buffer that starts 16-byte aligned, so the typed
    // views below can't fail once the whole output's view succeeded.
    match (kind, int8) {
        (OpKind::Conv2d, true) => {
            let a = ConvI8 {
                g,
                x: cast::i8s(xb),
                zx: x.zero_point,
                w: cast::i8s(blob(op.weights)?),
                packing: op.packing,
                bias: cast::i32s(blob(op.bias)?).ok_or(mis)?,
                mult: cast::f32s(blob(op.quant)?).ok_or(mis)?,
                q: qout(&y, act),
            };
            let rs = Regions::new(scratch, part_scratch(k, &g, true));
            split_parts(par, yb, g.oh, row_bytes, 1, row_macs.saturating_mul(g.oh as u64), rs.n, &|p, oy0, part| {
                // SAFETY: part `p` alone uses region `p`.
                (k.conv2d_i8)(&a, oy0, cast::i8s_mut(part), unsafe { rs.get(p) })
            });
        }
        (OpKind::Conv2d, false) => {
            let a = ConvF32 {
                g,
                x: cast::f32s(xb).ok_or(mis)?,
                w: cast::f32s(blob(op.weights)?).ok_or(mis)?,
                packing: op.packing,
                bias: cast::f32s(blob(op.bias)?).ok_or(mis)?,
                act,
            };
            cast::f32s_mut(yb).ok_or(mis)?;
            let rs = Regions::new(scratch, part_scratch(k, &g, false));
            split_parts(par, yb, g.oh, row_bytes, 1, row_macs.saturating_mul(g.oh as u64), rs.n, &|p, oy0, part| {
                // SAFETY: part `p` alone uses region `p`.
                (k.conv2d_f32)(&a, oy0, cast::f32s_mut(part).unwrap_or_default(), unsafe { rs.get(p) })
            });
        }
        (OpKind::Dense, true) => {
            let a = DenseI8 {
                x: cast::i8s(xb),
                zx: x.zero_point,
                w: cast::i8s(blob(op.weights)?),
                packing: op.packing,
                bias: cast::i32s(blob(op.bias)?).ok_or(mis)?,
                mult: cast::f32s(blob(op.quant)?).ok_or(mis)?,
                q: qout(&y, act),
            };
            let (n, kk) = (a.bias.len(), a.x.len());
            split_work(par, yb, n, 1, OC_BLOCK, macs(&[n, kk]), &|n0, part| (k.dense_i8)(&a, n0, cast::i8s_mut(part)));
        }
        (OpKind::Dense, false) => {
            let a = DenseF32 {
                x: cast::f32s(xb).ok_or(mis)?,
                w: cast::f32s(blob(op.weights)?).ok_or(mis)?,
                packing: op.packing,
                bias: cast::f32s(blob(op.bias)?).ok_or(mis)?,
                act,
            };
            cast::f32s_mut(yb).ok_or(mis)?;
            let (n, kk) = (a.bias.len(), a.x.len());
            split_work(par, yb, n, 4, OC_BLOCK, macs(&[n, kk]), &|n0, part| {
                (k.dense_f32)(&a, n0, cast::f32s_mut(part).unwrap_or_default())
            });
        }
        (OpKind::MaxPool, true) => {
            let xs = cast::i8s(xb);
            let work = macs(&[ydims[1], row_bytes, g.kh, g.kw]);
            split_work(par, yb, g.oh, row_bytes, 1, work, &|oy0, part| (k.maxpool_i8)(&g, xs, oy0, cast::i8s_mut(part)));
        }
        (OpKind::MaxPool, false) => {
            let xs = cast::f32s(xb).ok_or(mis)?;
            cast::f32s_mut(yb).ok_or(mis)?;
            let work = macs(&[ydims[1], row_bytes, g.kh, g.kw]);
            split_work(par, yb, g.oh, row_bytes, 1, work, &|oy0, part| {
                (k.maxpool_f32)(&g, xs, oy0, cast::f32s_mut(part).unwrap_or_default())
            });
        }
        (OpKind::AvgPool, true) => {
            let (xs, zx, incl) = (cast::i8s(xb), x.zero_point, op.aux == 1);
            let work = macs(&[ydims[1], row_bytes, g.kh, g.kw]);
            split_work(par, yb, g.oh, row_bytes, 1, work, &|oy0, part| (k.avgpool_i8)(&g, incl, zx, xs, oy0, cast::i8s_mut(part)));
        }
        (OpKind::AvgPool, false) => {
            let (xs, incl) = (cast::f32s(xb).ok_or(mis)?, op.aux == 1);
            cast::f32s_mut(yb).ok_or(mis)?;
            let work = macs(&[ydims[1], row_bytes, g.kh, g.kw]);
            split_work(par, yb, g.oh, row_bytes, 1, work, &|oy0, part| {
                (k.avgpool_f32)(&g, incl, xs, oy0, cast::f32s_mut(part).unwrap_or_default())
            });
        }
        (OpKind::Add, true) => {
            let bt = b.ok_or(bad)?;
            let r = cast::f32s(blob(op.quant)?).ok_or(mis)?;
            let q = qout(&y, act);
            kernels::add_i8(cast::i8s(xb), x.zero_point, r[0], cast::i8s(bb), bt.zero_point, r[1], q.zy, q.lo, q.hi, cast::i8s_mut(yb));
        }
        (OpKind::Add, false) => kernels::add_f32(
            cast::f32s(xb).ok_or(mis)?,
            cast::f32s(bb).ok_or(mis)?,
            act,
            cast::f32s_mut(yb).ok_or(mis)?,
        ),
        (OpKind::ConcatPart, true) => {
            let r = cast::f32s(blob(op.quant)?).ok_or(mis)?;
            let (cx, cy) = (x.dims[3], y.dims[3]);
            kernels::concat_part_i8(cast::i8s(xb), cx, x.zero_point, r[0], cast::i8s_mut(yb), cy, op.aux as usize, y.zero_point);
        }
        (OpKind::ConcatPart, false) => {
            let (cx, cy) = (x.dims[3], y.dims[3]);
            kernels::concat_part_f32(cast::f32s(xb).ok_or(mis)?, cx, cast::f32s_mut(yb).ok_or(mis)?, cy, op.aux as usize);
        }
        (OpKind::Softmax, true) => {
            kernels::softmax_i8(cast::i8s(xb), x.dims[3], x.scale, y.scale, y.zero_point, cast::i8s_mut(yb))
        }
        (OpKind::Softmax, false) => {
            kernels::softmax_f32(cast::f32s(xb).ok_or(mis)?, x.dims[3], cast::f32s_mut(yb).ok_or(mis)?)
        }
        (OpKind::Lut, true) => kernels::lut_i8(cast::i8s(xb), blob(op.quant)?, cast::i8s_mut(yb)),
        (OpKind::Lut, false) | (OpKind::Act, true) => return Err(bad),
        (OpKind::Act, false) => {
            let (xs, ys) = (cast::f32s(xb).ok_or(mis)?, cast::f32s_mut(yb).ok_or(mis)?);
            for (o, &v) in ys.iter_mut().zip(xs) {
                *o = act.apply(v);
            }
        }
    }
    Ok(())
}
