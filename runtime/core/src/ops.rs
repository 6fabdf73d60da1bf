//! Op records decoded from the `.kes` op table.

use crate::format::{op, rd_f32, rd_u16, rd_u32, NO_TENSOR};

pub use crate::format::DType;

/// The closed set of ops the runtime executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// 2-D convolution (groups, dilation, asymmetric pads). Files written before
    /// [`OpKind::DepthwiseConv2d`] existed store depthwise convs as this kind; the runtime
    /// runs those of depthwise shape on the depthwise kernels too.
    Conv2d = 1,
    /// Fully connected: output[n] = bias[n] + sum_k w[n][k] * x[k].
    Dense = 2,
    /// Max pooling.
    MaxPool = 3,
    /// Average pooling (global average pooling is a window over the whole map).
    AvgPool = 4,
    /// Elementwise add of two same-shape tensors.
    Add = 5,
    /// Copies input 0 into the output at channel offset `aux` (one op per concat input).
    ConcatPart = 6,
    /// Softmax over channels (no field set; [`OpKind::SoftmaxAxes`] is the general form).
    Softmax = 7,
    /// int8 elementwise lookup table (256 entries, indexed by x + 128).
    Lut = 8,
    /// f32 standalone activation (int8 models use [`OpKind::Lut`]).
    Act = 9,
    /// Depthwise 2-D convolution: `groups == ic == oc` and at most
    /// [`crate::kernels::DEPTHWISE_MAX_TAPS`] taps; record fields as [`OpKind::Conv2d`].
    DepthwiseConv2d = 10,
    /// f32 point-wise function of one tensor ([`Unary`]: `aux` is its code, `act_a` /
    /// `act_b` its parameters); int8 models use [`OpKind::Lut`].
    Unary = 11,
    /// Element-wise product `y = a * b` of two activations; `b` has `a`'s shape or is
    /// `[1, 1, 1, C]` (one value per channel, broadcast over H and W).
    Mul = 12,
    /// `y = x` where `x >= 0`, else `slope[c] * x`, one slope per channel.
    PRelu = 13,
    /// Pads height and width by `pad_t`, `pad_l`, `pad_b`, `pad_r` ([`PadMode`] in `aux`,
    /// the constant in `act_a`; int8 keeps the input's quantization and pads with the
    /// constant quantized by it, the zero point for 0).
    Pad = 14,
    /// Strided copy (a data-moving Transpose/Reshape, a Slice): output element `j` in NHWC
    /// order, written as the multi-index `i` over the [`Strided`] descriptor's `dims`, is
    /// input element `base + sum(i[k] * strides[k])`. The descriptor is the weights blob;
    /// int8 copies bytes and keeps the quantization.
    Copy = 15,
    /// Local response normalization across channels (ONNX LRN): `aux` = the window `size`,
    /// the weights blob three f32 `alpha`, `beta`, `bias` ([`Lrn`]); int8 dequantizes,
    /// computes in f32 and quantizes with the output's parameters.
    Lrn = 16,
    /// Softmax or log-softmax over a run of the NHWC axes H, W, C ([`SoftmaxAxes`] in
    /// `aux`); int8 computes in f32 from the dequantized input and quantizes with the
    /// output's parameters. The channel softmax keeps its own [`OpKind::Softmax`] record.
    SoftmaxAxes = 17,
}

impl OpKind {
    /// Decode from the file's byte.
    pub fn from_u8(v: u8) -> Option<OpKind> {
        Some(match v {
            1 => OpKind::Conv2d,
            2 => OpKind::Dense,
            3 => OpKind::MaxPool,
            4 => OpKind::AvgPool,
            5 => OpKind::Add,
            6 => OpKind::ConcatPart,
            7 => OpKind::Softmax,
            8 => OpKind::Lut,
            9 => OpKind::Act,
            10 => OpKind::DepthwiseConv2d,
            11 => OpKind::Unary,
            12 => OpKind::Mul,
            13 => OpKind::PRelu,
            14 => OpKind::Pad,
            15 => OpKind::Copy,
            16 => OpKind::Lrn,
            17 => OpKind::SoftmaxAxes,
            _ => return None,
        })
    }
    /// Short name used in summaries.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Conv2d => "Conv2D",
            OpKind::Dense => "Dense",
            OpKind::MaxPool => "MaxPool",
            OpKind::AvgPool => "AvgPool",
            OpKind::Add => "Add",
            OpKind::ConcatPart => "Concat",
            OpKind::Softmax => "Softmax",
            OpKind::Lut => "Lut",
            OpKind::Act => "Activation",
            OpKind::DepthwiseConv2d => "DepthwiseConv2D",
            OpKind::Unary => "Unary",
            OpKind::Mul => "Mul",
            OpKind::PRelu => "PRelu",
            OpKind::Pad => "Pad",
            OpKind::Copy => "Copy",
            OpKind::Lrn => "LRN",
            OpKind::SoftmaxAxes => "SoftmaxAxes",
        }
    }
}

/// Fused activation applied to an op's output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// Identity.
    None,
    /// max(x, 0).
    Relu,
    /// clamp(x, min, max) (ReLU6 is clip 0..6).
    Clip(f32, f32),
    /// x if x >= 0 else alpha * x (f32 only; int8 models use a Lut op).
    LeakyRelu(f32),
}

impl Activation {
    /// Apply to one f32 value.
    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Activation::None => v,
            Activation::Relu => v.max(0.0),
            Activation::Clip(lo, hi) => v.max(lo).min(hi),
            Activation::LeakyRelu(a) => {
                if v >= 0.0 {
                    v
                } else {
                    v * a
                }
            }
        }
    }
}

/// A point-wise function of an [`OpKind::Unary`] op (f32; an int8 model stores the same
/// function as a 256-entry [`OpKind::Lut`] table the compiler builds with [`Unary::apply`]).
/// ONNX semantics; the default parameters are ONNX's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `clamp(alpha * x + beta, 0, 1)`.
    HardSigmoid(f32, f32),
    /// `x * clamp(x / 6 + 1/2, 0, 1)`.
    HardSwish,
    /// `x * sigmoid(x)` (Swish / SiLU).
    Swish,
    /// `tanh(x)`.
    Tanh,
    /// `x` if `x >= 0` else `alpha * (e^x - 1)`.
    Elu(f32),
    /// `gamma * x` if `x > 0` else `gamma * alpha * (e^x - 1)` (`(alpha, gamma)`).
    Selu(f32, f32),
    /// `ln(1 + e^x)`.
    Softplus,
}

impl Unary {
    /// The code stored in the op's `aux` field, and the two parameters (`act_a`, `act_b`).
    pub fn encode(self) -> (u32, f32, f32) {
        match self {
            Unary::Sigmoid => (1, 0.0, 0.0),
            Unary::HardSigmoid(a, b) => (2, a, b),
            Unary::HardSwish => (3, 0.0, 0.0),
            Unary::Swish => (4, 0.0, 0.0),
            Unary::Tanh => (5, 0.0, 0.0),
            Unary::Elu(a) => (6, a, 0.0),
            Unary::Selu(a, g) => (7, a, g),
            Unary::Softplus => (8, 0.0, 0.0),
        }
    }

    /// Decode `(code, a, b)`; `None` for an unknown code, a non-finite parameter or a
    /// non-zero unused parameter.
    pub fn decode(code: u32, a: f32, b: f32) -> Option<Unary> {
        let u = match code {
            1 => Unary::Sigmoid,
            2 => Unary::HardSigmoid(a, b),
            3 => Unary::HardSwish,
            4 => Unary::Swish,
            5 => Unary::Tanh,
            6 => Unary::Elu(a),
            7 => Unary::Selu(a, b),
            8 => Unary::Softplus,
            _ => return None,
        };
        let ok = a.is_finite() && b.is_finite() && u.encode() == (code, a, b);
        ok.then_some(u)
    }

    /// Apply to one value (libm, so every target computes the same f32).
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        let sigmoid = |v: f32| 1.0 / (1.0 + libm::expf(-v));
        match self {
            Unary::Sigmoid => sigmoid(x),
            Unary::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Unary::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Unary::Swish => x * sigmoid(x),
            Unary::Tanh => libm::tanhf(x),
            Unary::Elu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * libm::expm1f(x)
                }
            }
            Unary::Selu(a, g) => {
                if x > 0.0 {
                    g * x
                } else {
                    g * (a * libm::expm1f(x))
                }
            }
            // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), which neither overflows nor loses
            // the small values of a large negative x.
            Unary::Softplus => x.max(0.0) + libm::log1pf(libm::expf(-x.abs())),
        }
    }
}

/// How a [`OpKind::Pad`] op fills the border (ONNX Pad's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    /// A constant value.
    Constant = 0,
    /// Mirror without repeating the edge (`[a b c]` → `c b [a b c] b a`); pads smaller than the side.
    Reflect = 1,
    /// Repeat the edge (`a a [a b c] c c`).
    Edge = 2,
}

impl PadMode {
    /// Decode from the op's `aux` field.
    pub fn from_u32(v: u32) -> Option<PadMode> {
        Some(match v {
            0 => PadMode::Constant,
            1 => PadMode::Reflect,
            2 => PadMode::Edge,
            _ => return None,
        })
    }
}

/// Most axes of a [`Strided`] copy.
pub const COPY_MAX_RANK: usize = 6;

/// The descriptor of an [`OpKind::Copy`] op: `rank` axes of `dims` (row-major over the
/// output, product = output length), each with a signed input `stride` in elements (a
/// negative one walks an axis backwards: a reversing Slice), from `base`.
/// Stored as `1 + 1 + 2 * COPY_MAX_RANK` little-endian 32-bit words: rank, base, dims (u32)
/// and strides (i32; unused axes 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strided {
    /// Number of axes used (1..=[`COPY_MAX_RANK`]).
    pub rank: usize,
    /// First input element.
    pub base: usize,
    /// Output extent of each axis.
    pub dims: [usize; COPY_MAX_RANK],
    /// Input stride of each axis, in elements.
    pub strides: [isize; COPY_MAX_RANK],
}

impl Strided {
    /// Bytes of the stored descriptor.
    pub const BYTES: usize = 4 * (2 + 2 * COPY_MAX_RANK);

    /// From `base` and per-axis `dims` / `strides` (the compiler's form); `None` for more
    /// than [`COPY_MAX_RANK`] or no axes, a base or extent above `u32::MAX` or a stride
    /// outside `i32`.
    pub fn from_parts(base: usize, dims: &[usize], strides: &[isize]) -> Option<Strided> {
        let r = dims.len();
        let fits = |v: usize| u32::try_from(v).is_ok();
        let fits_signed = |v: isize| i32::try_from(v).is_ok();
        if r == 0 || r > COPY_MAX_RANK || strides.len() != r || !fits(base) || !dims.iter().all(|&v| fits(v)) || !strides.iter().all(|&v| fits_signed(v)) {
            return None;
        }
        let mut s = Strided { rank: r, base, dims: [0; COPY_MAX_RANK], strides: [0; COPY_MAX_RANK] };
        s.dims[..r].copy_from_slice(dims);
        s.strides[..r].copy_from_slice(strides);
        Some(s)
    }

    /// The stored bytes.
    pub fn encode(&self) -> [u8; Strided::BYTES] {
        let mut out = [0u8; Strided::BYTES];
        let mut words = [0u32; 2 + 2 * COPY_MAX_RANK];
        words[0] = self.rank as u32;
        words[1] = self.base as u32;
        for k in 0..COPY_MAX_RANK {
            words[2 + k] = self.dims[k] as u32;
            words[2 + COPY_MAX_RANK + k] = self.strides[k] as i32 as u32;
        }
        for (o, w) in out.chunks_exact_mut(4).zip(words) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Decode `b` (exactly [`Strided::BYTES`] long) for an input of `x_len` and an output of
    /// `y_len` elements; `None` unless the rank is 1..=6, unused axes are 0, every used
    /// extent is non-zero, the extents multiply to `y_len` and every element read is inside
    /// the input: the lowest, `base + sum((dims[k] - 1) * strides[k])` over the negative
    /// strides, is at least 0 and the highest, the same sum over the positive ones, is below
    /// `x_len`.
    pub fn decode(b: &[u8], x_len: usize, y_len: usize) -> Option<Strided> {
        if b.len() != Strided::BYTES {
            return None;
        }
        let w = |i: usize| rd_u32(b, 4 * i);
        let (rank, base) = (w(0) as usize, w(1));
        if !(1..=COPY_MAX_RANK).contains(&rank) {
            return None;
        }
        let mut s = Strided { rank, base: base as usize, dims: [0; COPY_MAX_RANK], strides: [0; COPY_MAX_RANK] };
        // In i64: a u32 extent times an i32 stride fits, a sum of six is checked.
        let (mut count, mut lo, mut hi) = (1usize, i64::from(base), i64::from(base));
        for k in 0..COPY_MAX_RANK {
            let (d, st) = (w(2 + k), w(2 + COPY_MAX_RANK + k) as i32);
            if k >= rank {
                if d != 0 || st != 0 {
                    return None;
                }
                continue;
            }
            if d == 0 {
                return None;
            }
            count = count.checked_mul(d as usize)?;
            let reach = i64::from(d - 1).checked_mul(i64::from(st))?;
            if reach < 0 {
                lo = lo.checked_add(reach)?;
            } else {
                hi = hi.checked_add(reach)?;
            }
            s.dims[k] = d as usize;
            s.strides[k] = isize::try_from(st).ok()?;
        }
        (count == y_len && lo >= 0 && usize::try_from(hi).is_ok_and(|h| h < x_len)).then_some(s)
    }
}

/// What a softmax normalizes over: NHWC axes `first..=last` (1 = H, 2 = W, 3 = C), the
/// groups of `n` elements `inner` apart ([`SoftmaxAxes::groups`]); `log` for log-softmax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxAxes {
    /// First axis normalized over (1..=3).
    pub first: usize,
    /// Last axis normalized over (`first..=3`).
    pub last: usize,
    /// Log-softmax (`x - max - ln(sum(e^(x - max)))`) instead of softmax.
    pub log: bool,
}

impl SoftmaxAxes {
    /// The softmax over channels ([`OpKind::Softmax`]).
    pub const CHANNELS: SoftmaxAxes = SoftmaxAxes { first: 3, last: 3, log: false };

    /// The record's `aux`: `first | last << 4 | log << 8`.
    pub fn encode(&self) -> u32 {
        self.first as u32 | (self.last as u32) << 4 | (self.log as u32) << 8
    }

    /// Decode `aux`; `None` unless `1 <= first <= last <= 3` and no other bit is set.
    pub fn decode(aux: u32) -> Option<SoftmaxAxes> {
        let (first, last, log) = ((aux & 0xF) as usize, (aux >> 4 & 0xF) as usize, aux >> 8);
        let ok = (1..=3).contains(&first) && (first..=3).contains(&last) && log <= 1;
        ok.then_some(SoftmaxAxes { first, last, log: log == 1 })
    }

    /// `(n, inner)` over NHWC `dims`: each group is `n` elements `inner` apart.
    pub fn groups(&self, dims: [usize; 4]) -> (usize, usize) {
        let (first, last) = (self.first.clamp(1, 3), self.last.clamp(1, 3));
        (dims[first..=last.max(first)].iter().product(), dims[last.max(first) + 1..].iter().product())
    }
}

/// The parameters of an [`OpKind::Lrn`] op (ONNX LRN): channel `c` of a pixel becomes
/// `x[c] * (bias + alpha / size * sum(x[k]^2))^-beta` over the channels
/// `k` in `c - (size - 1) / 2 ..= c + size / 2` that exist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lrn {
    /// Channels in the window (at least 1).
    pub size: usize,
    /// Scale of the sum of squares.
    pub alpha: f32,
    /// Exponent.
    pub beta: f32,
    /// Added to the scaled sum.
    pub bias: f32,
}

impl Lrn {
    /// Bytes of the stored parameters (`alpha`, `beta`, `bias` as little-endian f32).
    pub const BYTES: usize = 12;

    /// The stored parameter bytes (the window size goes in the record's `aux`).
    pub fn encode(&self) -> [u8; Lrn::BYTES] {
        let mut out = [0u8; Lrn::BYTES];
        for (o, v) in out.chunks_exact_mut(4).zip([self.alpha, self.beta, self.bias]) {
            o.copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Decode window `size` and the parameter bytes `b`; `None` unless `b` is
    /// [`Lrn::BYTES`] long, `size` is 1..=65535 and every parameter is finite.
    pub fn decode(size: u32, b: &[u8]) -> Option<Lrn> {
        if b.len() != Lrn::BYTES || !(1..=u16::MAX as u32).contains(&size) {
            return None;
        }
        let p = Lrn { size: size as usize, alpha: rd_f32(b, 0), beta: rd_f32(b, 4), bias: rd_f32(b, 8) };
        [p.alpha, p.beta, p.bias].iter().all(|v| v.is_finite()).then_some(p)
    }
}

/// A byte range in the WEIGHTS section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Blob {
    /// Offset from the start of the WEIGHTS section.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

/// One decoded op record.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    /// Kind byte as stored (validated to decode into [`OpKind`]).
    pub kind: u8,
    /// Activation byte as stored.
    pub act: u8,
    /// Weight packing.
    pub packing: u8,
    /// First input tensor.
    pub in0: u16,
    /// Second input tensor or `NO_TENSOR`.
    pub in1: u16,
    /// Output tensor.
    pub out: u16,
    /// Kernel height and width.
    pub kh: u16,
    /// Kernel width.
    pub kw: u16,
    /// Stride height.
    pub sh: u16,
    /// Stride width.
    pub sw: u16,
    /// Dilation height.
    pub dh: u16,
    /// Dilation width.
    pub dw: u16,
    /// Padding top.
    pub pad_t: u16,
    /// Padding left.
    pub pad_l: u16,
    /// Padding bottom.
    pub pad_b: u16,
    /// Padding right.
    pub pad_r: u16,
    /// Convolution groups.
    pub groups: u16,
    /// Op-specific value (concat channel offset, avg-pool count_include_pad).
    pub aux: u32,
    /// Activation parameter a.
    pub act_a: f32,
    /// Activation parameter b.
    pub act_b: f32,
    /// Weights blob.
    pub weights: Blob,
    /// Bias blob.
    pub bias: Blob,
    /// Requantization blob.
    pub quant: Blob,
}

impl Op {
    /// Decode an op record (`r` is exactly [`op::LEN`] bytes).
    pub fn decode(r: &[u8]) -> Op {
        let g = |i: usize| rd_u16(r, op::GEOM + 2 * i);
        let blob = |o: usize| Blob { offset: rd_u32(r, o), len: rd_u32(r, o + 4) };
        Op {
            kind: r[op::KIND],
            act: r[op::ACT],
            packing: r[op::PACKING],
            in0: rd_u16(r, op::IN0),
            in1: rd_u16(r, op::IN1),
            out: rd_u16(r, op::OUT),
            kh: g(0),
            kw: g(1),
            sh: g(2),
            sw: g(3),
            dh: g(4),
            dw: g(5),
            pad_t: g(6),
            pad_l: g(7),
            pad_b: g(8),
            pad_r: g(9),
            groups: g(10),
            aux: rd_u32(r, op::AUX),
            act_a: rd_f32(r, op::ACT_A),
            act_b: rd_f32(r, op::ACT_B),
            weights: blob(op::WEIGHTS),
            bias: blob(op::BIAS),
            quant: blob(op::QUANT),
        }
    }

    /// A blank op of `kind` (used by the writer).
    pub fn new(kind: OpKind, in0: u16, out: u16) -> Op {
        Op {
            kind: kind as u8,
            act: 0,
            packing: 0,
            in0,
            in1: NO_TENSOR,
            out,
            kh: 1,
            kw: 1,
            sh: 1,
            sw: 1,
            dh: 1,
            dw: 1,
            pad_t: 0,
            pad_l: 0,
            pad_b: 0,
            pad_r: 0,
            groups: 1,
            aux: 0,
            act_a: 0.0,
            act_b: 0.0,
            weights: Blob::default(),
            bias: Blob::default(),
            quant: Blob::default(),
        }
    }

    /// The decoded op kind (`None` only for an unvalidated record).
    pub fn op_kind(&self) -> Option<OpKind> {
        OpKind::from_u8(self.kind)
    }

    /// The decoded activation (`None` only for an unvalidated record).
    pub fn activation(&self) -> Option<Activation> {
        Some(match self.act {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::Clip(self.act_a, self.act_b),
            3 => Activation::LeakyRelu(self.act_a),
            _ => return None,
        })
    }

    /// The point-wise function of an [`OpKind::Unary`] record (`None` if unknown or malformed).
    pub fn unary(&self) -> Option<Unary> {
        Unary::decode(self.aux, self.act_a, self.act_b)
    }

    /// Make this an [`OpKind::Unary`] record of `u` (no fused activation).
    pub fn set_unary(&mut self, u: Unary) {
        let (code, a, b) = u.encode();
        self.kind = OpKind::Unary as u8;
        self.act = 0;
        self.aux = code;
        self.act_a = a;
        self.act_b = b;
    }

    /// Set the activation fields from an [`Activation`].
    pub fn set_activation(&mut self, a: Activation) {
        let (code, x, y) = match a {
            Activation::None => (0, 0.0, 0.0),
            Activation::Relu => (1, 0.0, 0.0),
            Activation::Clip(lo, hi) => (2, lo, hi),
            Activation::LeakyRelu(al) => (3, al, 0.0),
        };
        self.act = code;
        self.act_a = x;
        self.act_b = y;
    }
}
