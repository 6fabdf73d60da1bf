//! The executor: runs a validated model's layers in order inside the caller's arena.
//! No allocation; all scratch is in the arena plan. Conv, dense and pool outputs are split
//! into parts (rows, or blocks of output channels) through [`Parallel`].
//!
//! Each op is decoded by [`crate::layer`] (which validation already ran on it) and handed
//! to its kernel-table slot; nothing here re-checks what validation guaranteed, and an
//! invariant that somehow fails is a typed error, never an empty output.

mod arena;

pub(crate) use arena::check_arena;

use core::sync::atomic::{AtomicBool, Ordering};

use crate::cast::{self, Elem};
use crate::format::{packing::OC_BLOCK, DType, TensorInfo, BUFFER_ALIGN};
use crate::kernels::{self, ConvF32, ConvI8, DenseF32, DenseI8, Geom, Kernels, MulI8, QOut};
use crate::layer::{Conv, Dense, Layer, LayerKind, PRelu, Params};
use crate::ops::Activation;
use crate::parallel::{Parallel, Sequential, MIN_PART_MACS};
use crate::scratch::{part_scratch, Regions};
use crate::{Error, Model, Result};

const MISALIGNED: Error = Error::ArenaMisaligned { required: BUFFER_ALIGN };

impl Model<'_> {
    /// Run inference with the best kernels for this build. The input must already be
    /// in the arena ([`Model::set_input_f32`] or [`Model::input_bytes_mut`]).
    pub fn run(&self, arena: &mut [u8]) -> Result<()> {
        run(self, kernels::best(), &Sequential, arena, &mut |_, _| {})
    }

    /// Run with an explicit kernel set (tests force each path).
    pub fn run_with(&self, kernels: &Kernels, arena: &mut [u8]) -> Result<()> {
        run(self, kernels, &Sequential, arena, &mut |_, _| {})
    }

    /// Run with an explicit kernel set, splitting large ops across `par`'s workers (a
    /// `ThreadPool` on std hosts; each worker writes its own rows of the op's output).
    pub fn run_parallel(&self, kernels: &Kernels, par: &dyn Parallel, arena: &mut [u8]) -> Result<()> {
        run(self, kernels, par, arena, &mut |_, _| {})
    }

    /// Run and call `observe(op_index, arena)` after every op (per-layer reports).
    pub fn run_observed(&self, arena: &mut [u8], observe: &mut dyn FnMut(usize, &[u8])) -> Result<()> {
        run(self, kernels::best(), &Sequential, arena, observe)
    }
}

fn run(m: &Model<'_>, k: &Kernels, par: &dyn Parallel, arena: &mut [u8], observe: &mut dyn FnMut(usize, &[u8])) -> Result<()> {
    check_arena(m, arena)?;
    let plan = m.meta().arena_size.div_ceil(BUFFER_ALIGN) * BUFFER_ALIGN;
    for i in 0..m.n_ops() {
        let (acts, scratch) = arena.split_at_mut(plan.min(arena.len()));
        run_layer(&m.layer(i)?, k, par, acts, scratch).map_err(|e| match e {
            Error::BadOp { what, .. } => Error::BadOp { index: i, what },
            e => e,
        })?;
        observe(i, arena);
    }
    Ok(())
}

/// An invariant of a validated model that does not hold (index filled in by [`run`]).
fn broken(what: &'static str) -> Error {
    Error::BadOp { index: 0, what }
}

/// One layer: split the arena into its output and inputs, call its kernel (conv kernels
/// also get regions of `scratch`, the arena past the planned activations: `scratch.rs`).
fn run_layer(l: &Layer<'_>, k: &Kernels, par: &dyn Parallel, arena: &mut [u8], scratch: &mut [u8]) -> Result<()> {
    let b = match l.kind {
        LayerKind::Add { b, .. } | LayerKind::Mul { b, .. } => (b.offset, b.size),
        _ => (0, 0),
    };
    let ranges = [(l.x.offset, l.x.size), b];
    let (y, [x, b]) = arena::split(arena, (l.y.offset, l.y.size), ranges).ok_or(broken("tensor ranges out of the arena"))?;
    let r = Run { par, work: l.work().1, x, y };
    let int8 = l.x.dtype == DType::I8;
    match l.kind {
        LayerKind::Conv2d(c) => {
            let rs = Regions::new(scratch, part_scratch(k, &c.g, int8));
            conv(&ConvSlots { i8: &|a, o, y, p| (k.conv2d_i8)(a, o, y, p), f32: &|a, o, y, p| (k.conv2d_f32)(a, o, y, p) }, &rs, &c, l, r)
        }
        LayerKind::Depthwise(c) => {
            let rs = Regions::new(&mut [], 0);
            conv(&ConvSlots { i8: &|a, o, y, _| (k.dwconv2d_i8)(a, o, y), f32: &|a, o, y, _| (k.dwconv2d_f32)(a, o, y) }, &rs, &c, l, r)
        }
        LayerKind::Dense(d) => dense(k, &d, l, r),
        LayerKind::MaxPool(g) if int8 => r.rows(&g, &|x, oy0, y| (k.maxpool_i8)(&g, x, oy0, y)),
        LayerKind::MaxPool(g) => r.rows(&g, &|x, oy0, y| (k.maxpool_f32)(&g, x, oy0, y)),
        LayerKind::AvgPool { g, count_include_pad: incl } if int8 => {
            let zx = l.x.zero_point;
            r.rows(&g, &|x, oy0, y| (k.avgpool_i8)(&g, incl, zx, x, oy0, y))
        }
        LayerKind::AvgPool { g, count_include_pad: incl } => r.rows(&g, &|x, oy0, y| (k.avgpool_f32)(&g, incl, x, oy0, y)),
        LayerKind::Mul { b: bt, mult } if int8 => {
            let m = MulI8 { a: cast::i8s(r.x), za: l.x.zero_point, b: cast::i8s(b), zb: bt.zero_point, mult, q: qout(&l.y, l.act) };
            (k.mul_i8)(&m, cast::i8s_mut(r.y));
            Ok(())
        }
        LayerKind::Mul { .. } => {
            let (a, b) = (f32::view(r.x).ok_or(MISALIGNED)?, f32::view(b).ok_or(MISALIGNED)?);
            (k.mul_f32)(a, b, f32::view_mut(r.y).ok_or(MISALIGNED)?);
            Ok(())
        }
        _ => elementwise(l, r.x, b, r.y),
    }
}

/// A window kernel with its parameters bound: `(x, first_row, rows)`.
type RowKernel<'f, T> = dyn Fn(&[T], usize, &mut [T]) + Sync + 'f;

/// The output and input bytes of one layer, and how to split its work.
struct Run<'p, 'b> {
    par: &'p dyn Parallel,
    work: u64,
    x: &'b [u8],
    y: &'b mut [u8],
}

impl Run<'_, '_> {
    /// Call `f(x, first_row, rows)` on parts of whole output rows of a window op.
    fn rows<T: Elem + Sync>(self, g: &Geom, f: &RowKernel<'_, T>) -> Result<()> {
        let x = T::view(self.x).ok_or(MISALIGNED)?;
        split_typed(self.par, self.y, g.oh, g.ow * g.oc, 1, self.work, usize::MAX, &|_, oy0, part| f(x, oy0, part))
    }
}

/// A conv layer's kernels: `(args, first_row, rows, scratch)`.
struct ConvSlots<'k> {
    i8: &'k (dyn Fn(&ConvI8<'_>, usize, &mut [i8], &mut [u8]) + Sync),
    f32: &'k (dyn Fn(&ConvF32<'_>, usize, &mut [f32], &mut [u8]) + Sync),
}

/// A conv layer on `k`, each part of its rows with its own region of `rs`.
fn conv(k: &ConvSlots<'_>, rs: &Regions<'_>, c: &Conv<'_>, l: &Layer<'_>, r: Run<'_, '_>) -> Result<()> {
    let (g, packing) = (c.g, c.packing as u8);
    let row = g.ow * g.oc;
    match c.params {
        Params::I8 { w, bias, mult } => {
            let a = ConvI8 { g, x: cast::i8s(r.x), zx: l.x.zero_point, w, packing, bias, mult, q: qout(&l.y, l.act) };
            // SAFETY: part `p` alone uses region `p`.
            split_typed(r.par, r.y, g.oh, row, 1, r.work, rs.n, &|p, oy0, y| (k.i8)(&a, oy0, y, unsafe { rs.get(p) }))
        }
        Params::F32 { w, bias } => {
            let a = ConvF32 { g, x: f32::view(r.x).ok_or(MISALIGNED)?, w, packing, bias, act: l.act };
            // SAFETY: part `p` alone uses region `p`.
            split_typed(r.par, r.y, g.oh, row, 1, r.work, rs.n, &|p, oy0, y| (k.f32)(&a, oy0, y, unsafe { rs.get(p) }))
        }
    }
}

/// A dense layer, split in blocks of [`OC_BLOCK`] outputs.
fn dense(k: &Kernels, d: &Dense<'_>, l: &Layer<'_>, r: Run<'_, '_>) -> Result<()> {
    let (n, packing) = (l.y.dims[3], d.packing as u8);
    match d.params {
        Params::I8 { w, bias, mult } => {
            let a = DenseI8 { x: cast::i8s(r.x), zx: l.x.zero_point, w, packing, bias, mult, q: qout(&l.y, l.act) };
            split_typed(r.par, r.y, n, 1, OC_BLOCK, r.work, usize::MAX, &|_, n0, y| (k.dense_i8)(&a, n0, y))
        }
        Params::F32 { w, bias } => {
            let a = DenseF32 { x: f32::view(r.x).ok_or(MISALIGNED)?, w, packing, bias, act: l.act };
            split_typed(r.par, r.y, n, 1, OC_BLOCK, r.work, usize::MAX, &|_, n0, y| (k.dense_f32)(&a, n0, y))
        }
    }
}

/// The ops without a kernel-table slot: add, concat, softmax, lookup table, activation,
/// point-wise function, PRelu, pad, copy, LRN.
fn elementwise(l: &Layer<'_>, x: &[u8], b: &[u8], y: &mut [u8]) -> Result<()> {
    if l.x.dtype == DType::I8 {
        elementwise_i8(l, cast::i8s(x), cast::i8s(b), cast::i8s_mut(y))
    } else {
        // A missing second input is an empty byte slice, whose address need not be aligned.
        let b: &[f32] = if b.is_empty() { &[] } else { f32::view(b).ok_or(MISALIGNED)? };
        let x = f32::view(x).ok_or(MISALIGNED)?;
        elementwise_f32(l, x, b, f32::view_mut(y).ok_or(MISALIGNED)?)
    }
}

fn elementwise_i8(l: &Layer<'_>, x: &[i8], b: &[i8], y: &mut [i8]) -> Result<()> {
    let (xt, yt) = (&l.x, &l.y);
    match l.kind {
        LayerKind::Add { b: bt, rescale: r } => {
            let q = qout(yt, l.act);
            kernels::add_i8(x, xt.zero_point, r[0], b, bt.zero_point, r[1], q.zy, q.lo, q.hi, y);
        }
        LayerKind::ConcatPart { offset, rescale } => kernels::concat_part_i8(x, xt.dims[3], xt.zero_point, rescale, y, yt.dims[3], offset, yt.zero_point),
        LayerKind::Softmax(a) => kernels::softmax_i8(x, xt.dims, a, xt.scale, yt.scale, yt.zero_point, y),
        LayerKind::Lut(table) => kernels::lut_i8(x, table, y),
        LayerKind::PRelu(PRelu::I8 { mult }) => kernels::prelu_i8(x, xt.zero_point, mult, yt.zero_point, y),
        LayerKind::Pad(p) => kernels::pad(x, hwc(xt), p.pads, p.mode, kernels::quantize_f32(p.value, xt.scale, xt.zero_point), y),
        LayerKind::Copy(s) => kernels::strided_copy(x, &s, y),
        LayerKind::Lrn(p) => kernels::lrn_i8(x, xt.dims[3], &p, xt.scale, xt.zero_point, yt.scale, yt.zero_point, y),
        _ => return Err(broken("no int8 elementwise kernel for this op")),
    }
    Ok(())
}

fn elementwise_f32(l: &Layer<'_>, x: &[f32], b: &[f32], y: &mut [f32]) -> Result<()> {
    match l.kind {
        LayerKind::Add { .. } => kernels::add_f32(x, b, l.act, y),
        LayerKind::ConcatPart { offset, .. } => kernels::concat_part_f32(x, l.x.dims[3], y, l.y.dims[3], offset),
        LayerKind::Softmax(a) => kernels::softmax_f32(x, l.x.dims, a, y),
        LayerKind::Act => act_f32(x, l.act, y),
        LayerKind::Unary(u) => kernels::unary_f32(u, x, y),
        LayerKind::PRelu(PRelu::F32 { slope }) => kernels::prelu_f32(x, slope, y),
        LayerKind::Pad(p) => kernels::pad(x, hwc(&l.x), p.pads, p.mode, p.value, y),
        LayerKind::Copy(s) => kernels::strided_copy(x, &s, y),
        LayerKind::Lrn(p) => kernels::lrn_f32(x, l.x.dims[3], &p, y),
        _ => return Err(broken("no f32 elementwise kernel for this op")),
    }
    Ok(())
}

/// Height, width and channels of an NHWC tensor.
fn hwc(t: &TensorInfo) -> [usize; 3] {
    [t.dims[1], t.dims[2], t.dims[3]]
}

/// f32 standalone activation.
fn act_f32(x: &[f32], act: Activation, y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = act.apply(v);
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

/// [`split_work`] over `y` viewed as `T`s (`unit_len` of them per unit): `f(part,
/// first_unit, rows)` on each part. Parts are whole units of a 16-byte aligned output, so each part's
/// view succeeds once the whole output's did; if one ever failed, that is an error.
#[allow(clippy::too_many_arguments)]
fn split_typed<T: Elem>(par: &dyn Parallel, y: &mut [u8], units: usize, unit_len: usize, align: usize, work: u64, max_parts: usize, f: &(dyn Fn(usize, usize, &mut [T]) + Sync)) -> Result<()> {
    T::view_mut(y).ok_or(MISALIGNED)?;
    let failed = AtomicBool::new(false);
    let typed = |p: usize, u0: usize, part: &mut [u8]| match T::view_mut(part) {
        Some(v) => f(p, u0, v),
        None => failed.store(true, Ordering::Relaxed),
    };
    split_work(par, y, units, unit_len * core::mem::size_of::<T>(), align, work, max_parts, &typed);
    if failed.load(Ordering::Relaxed) {
        return Err(MISALIGNED);
    }
    Ok(())
}

/// Split `y` (`units` units of `unit_bytes`, `work` operations in all) into at most
/// `par.workers()` (and `max_parts`) parts of whole units, each a multiple of `align` units
/// (except the last), and call `f(part, first_unit, bytes)` for each.
#[allow(clippy::too_many_arguments)]
fn split_work(par: &dyn Parallel, y: &mut [u8], units: usize, unit_bytes: usize, align: usize, work: u64, max_parts: usize, f: &(dyn Fn(usize, usize, &mut [u8]) + Sync)) {
    let by_work = (work / MIN_PART_MACS).max(1) as usize;
    let parts = par.workers().min(by_work).min(units.div_ceil(align)).min(max_parts).max(1);
    if parts == 1 {
        f(0, 0, y);
        return;
    }
    let per = units.div_ceil(align).div_ceil(parts) * align;
    par.for_chunks(y, per * unit_bytes, &|i, c| f(i, i * per, c));
}
