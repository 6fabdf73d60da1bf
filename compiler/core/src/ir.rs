//! The float graph IR: ONNX semantics, batch 1, activations stored NHWC.
//!
//! Every activation value has a physical NHWC shape `dims = [1, h, w, c]` (a flat vector of
//! K elements is `[1, 1, 1, K]` unless it is a flattened view of a 4-D value) and a
//! [`Layout`] saying how ONNX indexes it. Layout changes that don't move data (Flatten,
//! constant Reshape, a layout-only Transpose) are [`NodeOp::Alias`] nodes: the output value
//! shares the input's bytes. Weights keep ONNX's own layout (conv OIHW, dense `[n][k]` in
//! the logical order of the dense input); lowering to `.kes` repacks them.

use kestrel_runtime::{Activation, Lrn, PadMode, SoftmaxAxes, Unary};

/// Index of a value in [`Graph::values`].
pub type ValueId = usize;

/// How ONNX indexes a value whose bytes are NHWC `[1, h, w, c]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// ONNX shape `[1, c, h, w]` (PyTorch / onnx.helper models, after a Transpose(0,3,1,2) in tf2onnx ones).
    Nchw,
    /// ONNX shape `[1, h, w, c]` (tf2onnx inputs, or after Transpose(0,2,3,1)).
    Nhwc,
    /// ONNX shape `[1, h*w*c]` with logical index `c*(h*w) + y*w + x` (Flatten of an NCHW value).
    FlatChw,
    /// ONNX shape `[1, h*w*c]` with logical index `(y*w + x)*c + c` (Flatten of an NHWC value, dense outputs).
    FlatHwc,
}

impl Layout {
    /// True for the two flat layouts.
    pub fn is_flat(self) -> bool {
        matches!(self, Layout::FlatChw | Layout::FlatHwc)
    }
}

/// An activation tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// ONNX name.
    pub name: String,
    /// Physical NHWC dims `[1, h, w, c]`.
    pub dims: [usize; 4],
    /// How ONNX indexes it.
    pub layout: Layout,
}

impl Value {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }
    /// True if empty (never for a valid graph).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The ONNX shape of this value.
    pub fn onnx_shape(&self) -> Vec<usize> {
        let [n, h, w, c] = self.dims;
        match self.layout {
            Layout::Nchw => vec![n, c, h, w],
            Layout::Nhwc => vec![n, h, w, c],
            Layout::FlatChw | Layout::FlatHwc => vec![n, h * w * c],
        }
    }
}

/// Window parameters of a conv or pool: kernel, strides, pads (top, left, bottom, right), dilations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Kernel (h, w).
    pub kernel: [usize; 2],
    /// Strides (h, w).
    pub strides: [usize; 2],
    /// Pads top, left, bottom, right (ONNX order is top, left, bottom, right too).
    pub pads: [usize; 4],
    /// Dilations (h, w).
    pub dilations: [usize; 2],
}

impl Window {
    /// Output (h, w) for an input of (h, w); `None` if the window doesn't fit.
    pub fn out_hw(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let f = |i: usize, k: usize, s: usize, d: usize, p0: usize, p1: usize| {
            let ext = d * (k - 1) + 1;
            (i + p0 + p1).checked_sub(ext).map(|r| r / s + 1)
        };
        Some((
            f(h, self.kernel[0], self.strides[0], self.dilations[0], self.pads[0], self.pads[2])?,
            f(w, self.kernel[1], self.strides[1], self.dilations[1], self.pads[1], self.pads[3])?,
        ))
    }
}

/// What a node computes.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeOp {
    /// Convolution. `weight` is OIHW `[cout][cin/groups][kh][kw]`, `bias` has cout entries.
    Conv {
        /// OIHW weights.
        weight: Vec<f32>,
        /// Per-output-channel bias.
        bias: Vec<f32>,
        /// Window.
        win: Window,
        /// Groups (cin for depthwise).
        groups: usize,
    },
    /// Fully connected: `y[n] = bias[n] + sum_k weight[n*k_len + k] * x[k]`, `x` indexed in
    /// the input value's logical (ONNX) order.
    Dense {
        /// `[n][k]` weights.
        weight: Vec<f32>,
        /// Bias (n).
        bias: Vec<f32>,
    },
    /// BatchNormalization (inference); folded into the preceding conv by `passes`.
    BatchNorm {
        /// gamma.
        scale: Vec<f32>,
        /// beta.
        bias: Vec<f32>,
        /// running mean.
        mean: Vec<f32>,
        /// running variance.
        var: Vec<f32>,
        /// epsilon.
        eps: f32,
    },
    /// Max pooling.
    MaxPool {
        /// Window.
        win: Window,
    },
    /// Average pooling (GlobalAveragePool is a window over the whole map).
    AvgPool {
        /// Window.
        win: Window,
        /// ONNX count_include_pad.
        count_include_pad: bool,
    },
    /// Standalone activation (fused into the producer by `passes` where possible).
    Act(Activation),
    /// Point-wise function (Sigmoid, HardSigmoid, HardSwish, Swish, Tanh, Elu, Selu,
    /// Softplus); never fused into its producer.
    Unary(Unary),
    /// PRelu: `x` where `x >= 0`, else `slope[c] * x` (one slope per channel).
    PRelu {
        /// Per-channel slopes (a scalar slope is repeated over the channels).
        slope: Vec<f32>,
    },
    /// Pad height and width (int8 keeps the input's quantization).
    Pad {
        /// Top, left, bottom, right.
        pads: [usize; 4],
        /// Constant, reflect or edge.
        mode: PadMode,
        /// The constant of [`PadMode::Constant`] (0 otherwise).
        value: f32,
    },
    /// Softmax or log-softmax over the physical NHWC axes `first..=last`
    /// ([`SoftmaxAxes::CHANNELS`]: the channel / last axis).
    Softmax(SoftmaxAxes),
    /// Local response normalization across channels (ONNX LRN; int8 keeps no
    /// quantization of its own: it dequantizes, computes in f32 and quantizes).
    Lrn(Lrn),
    /// Elementwise add of two values: the second of the first's shape, or `[1, 1, 1, C]`
    /// (one value per channel, broadcast over H and W).
    Add,
    /// Elementwise product of two values, broadcast as [`NodeOp::Add`].
    Mul,
    /// Concatenation on channels.
    Concat,
    /// Same bytes, new layout/shape (Flatten, Reshape, layout-only Transpose).
    Alias,
    /// A copy that moves data (a Transpose or Reshape no layout holds for free, a Slice):
    /// output element `j` in physical NHWC order, as the row-major multi-index `i` over
    /// `dims`, is input element `base + sum(i[k] * strides[k])` in physical order. At most
    /// [`kestrel_runtime::COPY_MAX_RANK`] axes; int8 keeps the input's quantization.
    Copy {
        /// First input element.
        base: usize,
        /// Extents (product = output length).
        dims: Vec<usize>,
        /// Input strides in elements (negative: an axis read backwards).
        strides: Vec<isize>,
    },
}

impl NodeOp {
    /// The per-channel affine map `y[c] = a[c] * x[c] + b[c]` (a Mul or Add by a constant
    /// with nothing to fold into, a BatchNormalization without a conv before it): a
    /// depthwise 1x1 convolution, which every kernel set runs in f32 and int8.
    pub fn affine(a: Vec<f32>, b: Vec<f32>) -> NodeOp {
        let groups = a.len();
        let win = Window { kernel: [1, 1], strides: [1, 1], pads: [0; 4], dilations: [1, 1] };
        NodeOp::Conv { weight: a, bias: b, win, groups }
    }
}

/// One node: `output = op(inputs)`, then the fused activation.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// ONNX node name (or a generated one), used as the layer name.
    pub name: String,
    /// The ONNX op type it came from (for messages and summaries).
    pub onnx_op: String,
    /// Computation.
    pub op: NodeOp,
    /// Input values.
    pub inputs: Vec<ValueId>,
    /// Output value.
    pub output: ValueId,
    /// Activation fused into this node (Conv, Dense, Add only).
    pub act: Activation,
}

/// A float CNN, batch 1, one input and one output.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// All values; nodes refer to them by index.
    pub values: Vec<Value>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// The graph input.
    pub input: ValueId,
    /// The graph output.
    pub output: ValueId,
}

impl Graph {
    /// Add a value, returning its id.
    pub fn add_value(&mut self, name: impl Into<String>, dims: [usize; 4], layout: Layout) -> ValueId {
        self.values.push(Value { name: name.into(), dims, layout });
        self.values.len() - 1
    }

    /// Nodes that read `v`.
    pub fn consumers(&self, v: ValueId) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].inputs.contains(&v)).collect()
    }

    /// The node that writes `v`, if any.
    pub fn producer(&self, v: ValueId) -> Option<usize> {
        self.nodes.iter().position(|n| n.output == v)
    }

    /// Multiply-accumulates of one inference (conv and dense).
    pub fn macs(&self) -> u64 {
        self.nodes.iter().map(|n| self.node_macs(n)).sum()
    }

    /// MACs of one node.
    pub fn node_macs(&self, n: &Node) -> u64 {
        match &n.op {
            NodeOp::Conv { weight, .. } => {
                let out = &self.values[n.output];
                let cout = out.dims[3];
                (weight.len() / cout.max(1)) as u64 * out.len() as u64
            }
            NodeOp::Dense { weight, .. } => weight.len() as u64,
            _ => 0,
        }
    }

    /// Trainable parameters of one node (weights + bias), as Keras counts them.
    pub fn node_params(n: &Node) -> u64 {
        match &n.op {
            NodeOp::Conv { weight, bias, .. } | NodeOp::Dense { weight, bias } => (weight.len() + bias.len()) as u64,
            NodeOp::BatchNorm { scale, .. } => 4 * scale.len() as u64,
            _ => 0,
        }
    }
}
