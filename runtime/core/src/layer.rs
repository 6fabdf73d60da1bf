//! The one reader of op records: [`layer`] decodes op `i` of a file into a [`Layer`], its
//! tensors, activation and a [`LayerKind`] holding what that kind of op needs (window
//! geometry, typed weight slices, quantization). Validation calls it on every op and adds
//! the consistency checks, the executor calls it to run an op, the work estimates to count
//! one; nothing else reads an op record.
//!
//! The decoder refuses what it can't represent (unknown kind, activation or packing, a
//! tensor index or weight blob out of range, a misaligned blob, a window that doesn't give
//! the output's height and width), so it is safe on unvalidated bytes; [`crate::validate`]
//! refuses what is representable but inconsistent (other shapes, multipliers, weight
//! padding, the arena plan).

use crate::format::packing::Blocked;
use crate::format::{File, Packing, Precision, TensorInfo, NO_TENSOR, WEIGHT_ALIGN};
use crate::kernels::{Geom, DEPTHWISE_MAX_TAPS};
use crate::ops::{Activation, Blob, Lrn, Op, OpKind, PadMode, SoftmaxAxes, Strided, Unary};
use crate::{cast, Error, Result};

/// The weights of a conv or dense layer, typed by the model's precision.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Params<'a> {
    /// int8: weights, bias at scale `s_x * s_w[c]`, per-channel requantization multipliers.
    I8 { w: &'a [i8], bias: &'a [i32], mult: &'a [f32] },
    /// f32: weights and bias.
    F32 { w: &'a [f32], bias: &'a [f32] },
}

/// A convolution (general or depthwise).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv<'a> {
    /// Window geometry.
    pub g: Geom,
    /// How `params`' weights are laid out.
    pub packing: Packing,
    /// Weights, bias, quantization.
    pub params: Params<'a>,
}

/// A dense layer: `y.dims[3]` outputs of `x.len()` inputs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dense<'a> {
    /// How `params`' weights are laid out.
    pub packing: Packing,
    /// Weights, bias, quantization.
    pub params: Params<'a>,
}

/// What each kind of op needs beyond its tensors and activation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LayerKind<'a> {
    /// A convolution the general kernels run.
    Conv2d(Conv<'a>),
    /// A depthwise convolution (`groups == ic == oc`, at most [`DEPTHWISE_MAX_TAPS`] taps):
    /// an [`OpKind::DepthwiseConv2d`] op, or an [`OpKind::Conv2d`] of that shape from a file
    /// written before the kind existed.
    Depthwise(Conv<'a>),
    /// Fully connected.
    Dense(Dense<'a>),
    /// Max pooling.
    MaxPool(Geom),
    /// Average pooling.
    AvgPool {
        /// Window geometry.
        g: Geom,
        /// Padded taps count in the divisor.
        count_include_pad: bool,
    },
    /// `y = x + b`; int8 rescales each input to the output scale (`[1, 1]` for f32).
    Add {
        /// The second input.
        b: TensorInfo,
        /// Multipliers of x and b (int8).
        rescale: [f32; 2],
    },
    /// Copy x into y's channels `offset..`; int8 rescales (`1` for f32).
    ConcatPart {
        /// First output channel.
        offset: usize,
        /// Multiplier of x (int8).
        rescale: f32,
    },
    /// Softmax or log-softmax over a run of axes.
    Softmax(SoftmaxAxes),
    /// int8 lookup table, 256 entries indexed by `x + 128`.
    Lut(&'a [u8]),
    /// f32 standalone activation.
    Act,
    /// f32 point-wise function.
    Unary(Unary),
    /// `y = x * b`, `b` of x's shape or `[1, 1, 1, C]`; int8 requantizes the product of
    /// the two zero-point-free inputs by `mult = s_x * s_b / s_y` (`1` for f32).
    Mul {
        /// The second input.
        b: TensorInfo,
        /// Requantization multiplier (int8).
        mult: f32,
    },
    /// Per-channel PRelu.
    PRelu(PRelu<'a>),
    /// Height/width padding.
    Pad(Pad),
    /// Strided copy (checked in bounds by [`Strided::decode`]).
    Copy(Strided),
    /// Local response normalization across channels.
    Lrn(Lrn),
}

/// A Pad layer: `[top, left, bottom, right]` and how the border is filled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pad {
    /// Pads top, left, bottom, right.
    pub pads: [usize; 4],
    /// Fill mode.
    pub mode: PadMode,
    /// The constant (f32; an int8 model quantizes it with the input's parameters).
    pub value: f32,
}

/// The parameters of a PRelu layer of `C` channels.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PRelu<'a> {
    /// int8: `mult[0] = s_x / s_y` for `x >= zx`, `mult[1 + c] = s_x * slope[c] / s_y` below.
    I8 { mult: &'a [f32] },
    /// f32: the slopes.
    F32 { slope: &'a [f32] },
}

/// One decoded op.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layer<'a> {
    /// Input tensor index.
    pub in0: usize,
    /// Second input tensor index (Add only).
    pub in1: Option<usize>,
    /// Output tensor index.
    pub out: usize,
    /// Input tensor.
    pub x: TensorInfo,
    /// Output tensor.
    pub y: TensorInfo,
    /// Fused activation.
    pub act: Activation,
    /// The kind and its parameters.
    pub kind: LayerKind<'a>,
}

impl Layer<'_> {
    /// `(macs, work)`: multiply-accumulates of a conv or dense, and the elementary operations
    /// of every op (window taps for pools, twice the elements otherwise). Fixed by the
    /// shapes: no op's work depends on the data it reads.
    pub(crate) fn work(&self) -> (u64, u64) {
        match self.kind {
            LayerKind::Conv2d(c) | LayerKind::Depthwise(c) => {
                let g = c.g;
                let n = product(&[g.oh, g.ow, g.oc, g.kh, g.kw, g.ic / g.groups.max(1)]);
                (n, n)
            }
            LayerKind::Dense(_) => {
                let n = product(&[self.y.len(), self.x.len()]);
                (n, n)
            }
            LayerKind::MaxPool(g) | LayerKind::AvgPool { g, .. } => (0, product(&[g.oh, g.ow, g.oc, g.kh, g.kw])),
            _ => (0, product(&[self.y.len(), 2])),
        }
    }
}

/// Product of `dims` as u64, saturating (for work estimates only).
fn product(dims: &[usize]) -> u64 {
    dims.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64))
}

/// Decode op `i` of `f` (`i < n_ops`; tensor records are read as they are, so
/// [`crate::validate`] checks those first).
pub(crate) fn layer<'a>(f: &File<'a>, i: usize) -> Result<Layer<'a>> {
    let r = Reader { weights: f.weights, i, op: Op::decode(f.op_record(i)), int8: f.meta.precision == Precision::Int8 };
    let op = &r.op;
    let kind = op.op_kind().ok_or(r.bad("unknown op kind"))?;
    let act = r.activation(kind)?;
    let packing = Packing::try_from(op.packing).map_err(|_| Error::UnsupportedKernel { index: i })?;
    let weighted = matches!(kind, OpKind::Conv2d | OpKind::DepthwiseConv2d | OpKind::Dense);
    if packing != Packing::Plain && !weighted {
        return Err(Error::UnsupportedKernel { index: i });
    }
    let nt = f.meta.n_tensors;
    let two_inputs = matches!(kind, OpKind::Add | OpKind::Mul);
    if op.in0 as usize >= nt || op.out as usize >= nt {
        return Err(r.bad("tensor index out of range"));
    }
    if two_inputs != (op.in1 != NO_TENSOR) || (two_inputs && op.in1 as usize >= nt) {
        return Err(r.bad("wrong number of inputs"));
    }
    let (x, y) = (f.tensor(op.in0 as usize), f.tensor(op.out as usize));
    let in1 = two_inputs.then_some(op.in1 as usize);
    let b = in1.map(|t| f.tensor(t));
    let kind = r.kind(kind, packing, &x, &y, b)?;
    Ok(Layer { in0: op.in0 as usize, in1, out: op.out as usize, x, y, act, kind })
}

/// Expected output size of a window op along one axis; `None` if the window doesn't fit.
fn out_dim(i: usize, k: u16, s: u16, d: u16, p0: u16, p1: u16) -> Option<usize> {
    let ext = (d as usize).checked_mul(k as usize - 1)? + 1;
    let padded = i + p0 as usize + p1 as usize;
    if padded < ext {
        return None;
    }
    Some((padded - ext) / s as usize + 1)
}

/// Decoding state of one op record.
struct Reader<'a> {
    weights: &'a [u8],
    i: usize,
    op: Op,
    int8: bool,
}

impl<'a> Reader<'a> {
    fn bad(&self, what: &'static str) -> Error {
        Error::BadOp { index: self.i, what }
    }

    /// The fused activation, if it is well formed and allowed on `kind`.
    fn activation(&self, kind: OpKind) -> Result<Activation> {
        let act = self.op.activation().ok_or(self.bad("unknown activation"))?;
        match act {
            Activation::Clip(lo, hi) if !(lo.is_finite() && hi.is_finite() && lo <= hi) => return Err(self.bad("invalid clip range")),
            Activation::LeakyRelu(a) if !a.is_finite() || self.int8 => return Err(self.bad("invalid leaky relu")),
            _ => {}
        }
        let fusable = matches!(kind, OpKind::Conv2d | OpKind::DepthwiseConv2d | OpKind::Dense | OpKind::Add | OpKind::Act);
        if act != Activation::None && !fusable {
            return Err(self.bad("activation not allowed on this op"));
        }
        Ok(act)
    }

    /// The bytes of blob `b`, which must be 64-byte aligned, `len` bytes long and inside
    /// the WEIGHTS section.
    fn blob(&self, b: Blob, len: usize) -> Result<&'a [u8]> {
        let (off, n) = (b.offset as usize, b.len as usize);
        if off % WEIGHT_ALIGN != 0 || n != len {
            return Err(self.bad("weight blob has a wrong offset, length or alignment"));
        }
        let bytes = off.checked_add(n).and_then(|end| self.weights.get(off..end));
        bytes.ok_or(self.bad("weight blob has a wrong offset, length or alignment"))
    }

    /// Blob `b` as `n` f32 values.
    fn f32s(&self, b: Blob, n: usize) -> Result<&'a [f32]> {
        cast::f32s(self.blob(b, n.checked_mul(4).ok_or(self.bad("blob too large"))?)?).ok_or(self.bad("misaligned blob"))
    }

    /// Refuse a non-empty blob where the op takes none.
    fn no_blobs<const N: usize>(&self, blobs: [Blob; N]) -> Result<()> {
        if blobs.iter().any(|b| b.len != 0) {
            return Err(self.bad("unexpected weight blob"));
        }
        Ok(())
    }

    /// Window geometry of a conv or pool from `x` to `y`: non-zero kernel, stride,
    /// dilation and groups, and `y`'s height and width what they give.
    fn window(&self, x: &TensorInfo, y: &TensorInfo) -> Result<Geom> {
        let o = &self.op;
        if [o.kh, o.kw, o.sh, o.sw, o.dh, o.dw, o.groups].contains(&0) {
            return Err(self.bad("zero kernel, stride, dilation or groups"));
        }
        let eh = out_dim(x.dims[1], o.kh, o.sh, o.dh, o.pad_t, o.pad_b);
        let ew = out_dim(x.dims[2], o.kw, o.sw, o.dw, o.pad_l, o.pad_r);
        if eh != Some(y.dims[1]) || ew != Some(y.dims[2]) {
            return Err(self.bad("output shape does not match the window geometry"));
        }
        let u = |v: u16| v as usize;
        Ok(Geom {
            ih: x.dims[1],
            iw: x.dims[2],
            ic: x.dims[3],
            oh: y.dims[1],
            ow: y.dims[2],
            oc: y.dims[3],
            kh: u(o.kh),
            kw: u(o.kw),
            sh: u(o.sh),
            sw: u(o.sw),
            dh: u(o.dh),
            dw: u(o.dw),
            pt: u(o.pad_t),
            pl: u(o.pad_l),
            groups: u(o.groups),
        })
    }

    /// The kind-specific part of the record.
    fn kind(&self, kind: OpKind, packing: Packing, x: &TensorInfo, y: &TensorInfo, b: Option<TensorInfo>) -> Result<LayerKind<'a>> {
        let o = &self.op;
        Ok(match kind {
            OpKind::Conv2d | OpKind::DepthwiseConv2d => self.conv(kind, packing, x, y)?,
            OpKind::Dense => {
                let n = y.dims[3];
                let params = self.params(packing, Blocked::dense(n, x.len(), self.int8), n, "dense too large")?;
                LayerKind::Dense(Dense { packing, params })
            }
            OpKind::MaxPool | OpKind::AvgPool => self.pool(kind, x, y)?,
            OpKind::Add => {
                let b = b.ok_or(self.bad("wrong number of inputs"))?;
                LayerKind::Add { b, rescale: self.rescale::<2>()? }
            }
            OpKind::ConcatPart => {
                let [q] = self.rescale::<1>()?;
                LayerKind::ConcatPart { offset: o.aux as usize, rescale: q }
            }
            OpKind::Softmax | OpKind::SoftmaxAxes => {
                self.no_blobs([o.weights, o.bias, o.quant])?;
                if o.act_a != 0.0 || o.act_b != 0.0 {
                    return Err(self.bad("unused softmax field set"));
                }
                LayerKind::Softmax(match kind {
                    OpKind::Softmax if o.aux == 0 => SoftmaxAxes::CHANNELS,
                    OpKind::Softmax => return Err(self.bad("unused softmax field set")),
                    _ => SoftmaxAxes::decode(o.aux).ok_or(self.bad("softmax axes not a run of H, W, C"))?,
                })
            }
            OpKind::Act => {
                if self.int8 {
                    return Err(self.bad("standalone activation needs f32 tensors of one shape"));
                }
                self.no_blobs([o.weights, o.bias, o.quant])?;
                LayerKind::Act
            }
            OpKind::Unary => {
                if self.int8 {
                    return Err(self.bad("point-wise function needs f32 tensors (int8 uses a lookup table)"));
                }
                self.no_blobs([o.weights, o.bias, o.quant])?;
                LayerKind::Unary(o.unary().ok_or(self.bad("unknown point-wise function or invalid parameters"))?)
            }
            OpKind::Mul => {
                let b = b.ok_or(self.bad("wrong number of inputs"))?;
                let [mult] = self.rescale::<1>()?;
                LayerKind::Mul { b, mult }
            }
            OpKind::PRelu => {
                let c = x.dims[3];
                self.no_blobs([o.bias])?;
                LayerKind::PRelu(if self.int8 {
                    self.no_blobs([o.weights])?;
                    PRelu::I8 { mult: self.f32s(o.quant, c + 1)? }
                } else {
                    self.no_blobs([o.quant])?;
                    PRelu::F32 { slope: self.f32s(o.weights, c)? }
                })
            }
            OpKind::Pad => {
                self.no_blobs([o.weights, o.bias, o.quant])?;
                let mode = PadMode::from_u32(o.aux).ok_or(self.bad("unknown pad mode"))?;
                if !o.act_a.is_finite() || o.act_b != 0.0 || (mode != PadMode::Constant && o.act_a != 0.0) {
                    return Err(self.bad("invalid pad value"));
                }
                let pads = [o.pad_t, o.pad_l, o.pad_b, o.pad_r].map(|p| p as usize);
                let fits = |i: usize, p0: usize, p1: usize, o: usize| i + p0 + p1 == o && (mode != PadMode::Reflect || (p0 < i && p1 < i));
                if !fits(x.dims[1], pads[0], pads[2], y.dims[1]) || !fits(x.dims[2], pads[1], pads[3], y.dims[2]) || x.dims[3] != y.dims[3] {
                    return Err(self.bad("pad output shape does not match the pads (reflect pads must be smaller than the side)"));
                }
                LayerKind::Pad(Pad { pads, mode, value: o.act_a })
            }
            OpKind::Copy => {
                self.no_blobs([o.bias, o.quant])?;
                if o.aux != 0 || o.act_a != 0.0 || o.act_b != 0.0 {
                    return Err(self.bad("unused copy field set"));
                }
                let d = self.blob(o.weights, Strided::BYTES)?;
                let s = Strided::decode(d, x.len(), y.len()).ok_or(self.bad("copy descriptor out of range or not the output's size"))?;
                LayerKind::Copy(s)
            }
            OpKind::Lrn => {
                self.no_blobs([o.bias, o.quant])?;
                if o.act_a != 0.0 || o.act_b != 0.0 {
                    return Err(self.bad("unused LRN field set"));
                }
                let p = self.blob(o.weights, Lrn::BYTES)?;
                LayerKind::Lrn(Lrn::decode(o.aux, p).ok_or(self.bad("LRN size not in 1..=65535 or a parameter not finite"))?)
            }
            OpKind::Lut => {
                if !self.int8 {
                    return Err(self.bad("lookup table needs int8 tensors of one shape"));
                }
                self.no_blobs([o.weights, o.bias])?;
                LayerKind::Lut(self.blob(o.quant, 256)?)
            }
        })
    }

    /// A max or average pool record: channels kept, pads smaller than the window, no blobs.
    fn pool(&self, kind: OpKind, x: &TensorInfo, y: &TensorInfo) -> Result<LayerKind<'a>> {
        let (o, g) = (&self.op, self.window(x, y)?);
        if g.groups != 1 || g.oc != g.ic {
            return Err(self.bad("pooling must keep the channel count"));
        }
        let (ext_h, ext_w) = ((g.kh - 1) * g.dh + 1, (g.kw - 1) * g.dw + 1);
        let (pb, pr) = (o.pad_b as usize, o.pad_r as usize);
        if g.pt >= ext_h || pb >= ext_h || g.pl >= ext_w || pr >= ext_w {
            return Err(self.bad("pooling pad must be smaller than the window"));
        }
        if kind == OpKind::AvgPool && o.aux > 1 {
            return Err(self.bad("count_include_pad must be 0 or 1"));
        }
        self.no_blobs([o.weights, o.bias, o.quant])?;
        Ok(match kind {
            OpKind::MaxPool => LayerKind::MaxPool(g),
            _ => LayerKind::AvgPool { g, count_include_pad: o.aux == 1 },
        })
    }

    /// A conv or depthwise conv record. A `Conv2d` of depthwise shape decodes as
    /// [`LayerKind::Depthwise`] too, so files written before that kind existed run the same
    /// kernels as they did.
    fn conv(&self, kind: OpKind, packing: Packing, x: &TensorInfo, y: &TensorInfo) -> Result<LayerKind<'a>> {
        let g = self.window(x, y)?;
        if g.ic % g.groups != 0 || g.oc % g.groups != 0 {
            return Err(self.bad("channels not divisible by groups"));
        }
        let depthwise = g.groups == g.ic && g.ic == g.oc && g.kh * g.kw <= DEPTHWISE_MAX_TAPS;
        if kind == OpKind::DepthwiseConv2d && !depthwise {
            return Err(self.bad("depthwise conv needs groups == channels and at most 49 taps"));
        }
        let shape = Blocked::conv(g.oc, g.ic, g.kh, g.kw, g.groups, self.int8);
        let c = Conv { g, packing, params: self.params(packing, shape, g.oc, "conv too large")? };
        Ok(if depthwise { LayerKind::Depthwise(c) } else { LayerKind::Conv2d(c) })
    }

    /// Weights of `shape` in `packing`, bias and (int8) multipliers for `n` outputs.
    fn params(&self, packing: Packing, shape: Blocked, n: usize, too_large: &'static str) -> Result<Params<'a>> {
        let o = &self.op;
        let elems = match packing {
            Packing::Blocked => shape.elements(),
            Packing::Plain => (shape.groups * shape.ocg).checked_mul(shape.taps).and_then(|v| v.checked_mul(shape.icg)),
        };
        let elems = elems.ok_or(self.bad(too_large))?;
        if self.int8 {
            let w = cast::i8s(self.blob(o.weights, elems)?);
            let bias = cast::i32s(self.blob(o.bias, n * 4)?).ok_or(self.bad("misaligned blob"))?;
            Ok(Params::I8 { w, bias, mult: self.f32s(o.quant, n)? })
        } else {
            let w = self.f32s(o.weights, elems)?;
            let bias = self.f32s(o.bias, n)?;
            self.no_blobs([o.quant])?;
            Ok(Params::F32 { w, bias })
        }
    }

    /// The requantization multipliers of an int8 Add (2), Mul or ConcatPart (1); `1.0` each in
    /// an f32 model, which stores none (no weights or bias either way).
    fn rescale<const N: usize>(&self) -> Result<[f32; N]> {
        let o = &self.op;
        self.no_blobs([o.weights, o.bias])?;
        let mut r = [1.0; N];
        if self.int8 {
            r.copy_from_slice(self.f32s(o.quant, N)?);
        }
        Ok(r)
    }
}
