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
    /// Softmax over channels.
    Softmax = 7,
    /// int8 elementwise lookup table (256 entries, indexed by x + 128).
    Lut = 8,
    /// f32 standalone activation (int8 models use [`OpKind::Lut`]).
    Act = 9,
    /// Depthwise 2-D convolution: `groups == ic == oc` and at most
    /// [`crate::kernels::DEPTHWISE_MAX_TAPS`] taps; record fields as [`OpKind::Conv2d`].
    DepthwiseConv2d = 10,
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
