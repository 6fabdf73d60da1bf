//! A builder of small IR graphs with seeded random weights, for the op parity tests.

use kestrel_compiler::ir::{Graph, Layout, Node, NodeOp, ValueId, Window};
use kestrel_runtime::Activation;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A graph under construction and the generator of its weights.
pub struct B {
    /// The graph.
    pub g: Graph,
    /// Weight generator.
    pub rng: StdRng,
}

impl B {
    /// An empty graph whose weights come from `seed`.
    pub fn new(seed: u64) -> B {
        B { g: Graph { values: vec![], nodes: vec![], input: 0, output: 0 }, rng: StdRng::seed_from_u64(seed) }
    }
    /// Append a node writing a new value `name`.
    #[allow(clippy::too_many_arguments)]
    pub fn node(&mut self, name: &str, op: &str, kind: NodeOp, inputs: Vec<ValueId>, dims: [usize; 4], layout: Layout, act: Activation) -> ValueId {
        let out = self.g.add_value(name, dims, layout);
        self.g.nodes.push(Node { name: name.into(), onnx_op: op.into(), op: kind, inputs, output: out, act });
        out
    }
    /// Append a node of `x`'s dims and layout.
    pub fn same(&mut self, name: &str, op: &str, kind: NodeOp, inputs: Vec<ValueId>) -> ValueId {
        let v = &self.g.values[inputs[0]];
        let (dims, layout) = (v.dims, v.layout);
        self.node(name, op, kind, inputs, dims, layout, Activation::None)
    }
    /// `n` uniform values in `(-s, s)`.
    pub fn rand(&mut self, n: usize, s: f32) -> Vec<f32> {
        (0..n).map(|_| self.rng.random_range(-s..s)).collect()
    }
    /// A conv with He-like random weights.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(&mut self, name: &str, x: ValueId, cout: usize, k: usize, pad: usize, dil: usize, stride: usize, groups: usize, act: Activation) -> ValueId {
        let [_, h, w, cin] = self.g.values[x].dims;
        let win = Window { kernel: [k, k], strides: [stride, stride], pads: [pad; 4], dilations: [dil, dil] };
        let (oh, ow) = win.out_hw(h, w).expect("fits");
        let fan = (cin / groups * k * k) as f32;
        let weight = self.rand(cout * cin / groups * k * k, (6.0 / fan).sqrt());
        let bias = self.rand(cout, 0.1);
        self.node(name, "Conv", NodeOp::Conv { weight, bias, win, groups }, vec![x], [1, oh, ow, cout], Layout::Nchw, act)
    }
    /// A max or average pool.
    pub fn pool(&mut self, name: &str, x: ValueId, k: usize, s: usize, pad: usize, max: bool) -> ValueId {
        let [_, h, w, c] = self.g.values[x].dims;
        let win = Window { kernel: [k, k], strides: [s, s], pads: [pad; 4], dilations: [1, 1] };
        let (oh, ow) = win.out_hw(h, w).expect("fits");
        let (op, kind) = if max { ("MaxPool", NodeOp::MaxPool { win }) } else { ("AveragePool", NodeOp::AvgPool { win, count_include_pad: false }) };
        self.node(name, op, kind, vec![x], [1, oh, ow, c], Layout::Nchw, Activation::None)
    }
    /// Global average pool of an NCHW value.
    pub fn gap(&mut self, name: &str, x: ValueId) -> ValueId {
        let [_, h, w, c] = self.g.values[x].dims;
        let win = Window { kernel: [h, w], strides: [1, 1], pads: [0; 4], dilations: [1, 1] };
        self.node(name, "GlobalAveragePool", NodeOp::AvgPool { win, count_include_pad: false }, vec![x], [1, 1, 1, c], Layout::Nchw, Activation::None)
    }
}
