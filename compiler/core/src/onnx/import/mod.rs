//! ONNX → [`Graph`]: decode a `ModelProto` (the prost types of [`crate::onnx::pb`]) and build the
//! float IR.
//!
//! Scope: batch-1 CNNs whose one input is an image `[1,C,H,W]` (or `[1,H,W,C]` followed by a
//! `Transpose(0,3,1,2)`, as tf2onnx writes it) or a vector `[1,K]`, and whose one output is
//! a float tensor. Every value's shape is computed here from the input shape and the
//! constant weights (`value_info` is not trusted). Constants are the initializers and the
//! `Constant` nodes; small shape computations on them (`Shape`, `Gather`, `Unsqueeze`,
//! `Concat`, `Reshape`) are folded. The op builders live in `import_ops.rs`, one small
//! function per ONNX op, dispatched by `ops::builder`.
//!
//! Everything read from the file is validated: malformed or unsupported models give an
//! [`ImportError`] naming the node, the op and (where relevant) the attribute; nothing panics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use prost::Message;
use crate::onnx::pb;

use crate::ir::{Graph, Layout, Node, NodeOp, Value, ValueId};
use kestrel_runtime::Activation;

mod affine;
mod copy;
mod fold;
#[cfg(test)]
mod front_tests;
mod input;
mod ops;
#[cfg(test)]
mod ops_tests;
mod pad;
mod reduce;
mod views;

pub use input::ImportOptions;

/// Largest tensor (elements) we accept, activation or constant.
const MAX_ELEMS: usize = 1 << 31;
/// Largest kernel, stride, pad or dilation we accept.
const MAX_WINDOW: i64 = 1 << 20;

/// Why a model could not be imported. `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The model file could not be read.
    #[error("cannot read ONNX model \"{}\": {err}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        err: std::io::Error,
    },
    /// The bytes are not a protobuf `ModelProto` (or carry no graph).
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// The default-domain opset is missing or outside 1..=21.
    #[error("unsupported opset: {0}")]
    Opset(String),
    /// A graph-level problem: inputs, outputs, shapes.
    #[error("unsupported graph: {0}")]
    Graph(String),
    /// An op type we do not import.
    #[error("node \"{node}\" ({op}): unsupported op")]
    UnsupportedOp {
        /// Node name.
        node: String,
        /// ONNX op type (prefixed by its domain when not the default one).
        op: String,
    },
    /// A supported op with an attribute value we do not support.
    #[error("node \"{node}\" ({op}): attribute {attr} = {value} is not supported{why}")]
    UnsupportedAttr {
        /// Node name.
        node: String,
        /// ONNX op type.
        op: String,
        /// Attribute name.
        attr: String,
        /// The value, as written in the model.
        value: String,
        /// Empty, or ` (reason)`.
        why: String,
    },
    /// Any other problem with one node (constness, shapes, layouts).
    #[error("node \"{node}\" ({op}): {msg}")]
    Node {
        /// Node name.
        node: String,
        /// ONNX op type.
        op: String,
        /// What is wrong.
        msg: String,
    },
    /// Several nodes cannot be imported: every problem found, in graph order.
    #[error("{} nodes cannot be compiled; the first: {}", .0.len(), .0.first().map(|e| e.to_string()).unwrap_or_default())]
    Many(Vec<ImportError>),
}

impl ImportError {
    /// One line per problem (a [`ImportError::Many`] lists each of its errors).
    pub fn lines(&self) -> Vec<String> {
        match self {
            ImportError::Many(all) => all.iter().flat_map(ImportError::lines).collect(),
            e => vec![e.to_string()],
        }
    }
}

type Result<T> = std::result::Result<T, ImportError>;

/// Import an ONNX model from its serialized bytes.
pub fn import_onnx(bytes: &[u8]) -> std::result::Result<Graph, ImportError> {
    import_onnx_with(bytes, &ImportOptions::default())
}

/// Import an ONNX model from its serialized bytes, with input-shape overrides.
pub fn import_onnx_with(bytes: &[u8], opts: &ImportOptions) -> std::result::Result<Graph, ImportError> {
    let model = pb::ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
    let graph = model.graph.as_ref().ok_or_else(|| ImportError::Decode("the model has no graph".into()))?;
    let opset = default_opset(&model)?;
    import_graph(graph, opset, opts)
}

/// Import an ONNX model file.
pub fn import_path(path: &Path) -> std::result::Result<Graph, ImportError> {
    import_path_with(path, &ImportOptions::default())
}

/// Import an ONNX model file, with input-shape overrides.
pub fn import_path_with(path: &Path, opts: &ImportOptions) -> std::result::Result<Graph, ImportError> {
    let bytes = std::fs::read(path).map_err(|err| ImportError::Io { path: path.to_path_buf(), err })?;
    import_onnx_with(&bytes, opts)
}

/// The default-domain opset version, checked to be in 1..=21 (older attribute forms such as
/// Clip's min/max attributes and BatchNormalization's `spatial` are handled per opset).
fn default_opset(model: &pb::ModelProto) -> Result<i64> {
    let v = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .ok_or_else(|| ImportError::Opset("the model declares no default-domain (ai.onnx) opset".into()))?;
    if !(1..=21).contains(&v) {
        return Err(ImportError::Opset(format!("ai.onnx opset {v}; supported are 1..=21 (tested 11..=17)")));
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------
// Constants

/// Decoded constant data.
#[derive(Debug, Clone, PartialEq)]
enum CData {
    F(Vec<f32>),
    I(Vec<i64>),
}

/// A constant tensor (initializer, `Constant` node or folded shape computation).
#[derive(Debug, Clone, PartialEq)]
struct Const {
    dims: Vec<usize>,
    data: CData,
}

impl Const {
    fn len(&self) -> usize {
        match &self.data {
            CData::F(v) => v.len(),
            CData::I(v) => v.len(),
        }
    }

    /// The values as f32 (ints converted).
    fn f32s(&self) -> Vec<f32> {
        match &self.data {
            CData::F(v) => v.clone(),
            CData::I(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The values as i64; `None` for float data.
    fn i64s(&self) -> Option<&[i64]> {
        match &self.data {
            CData::I(v) => Some(v),
            CData::F(_) => None,
        }
    }
}

/// Product of dims, `None` past [`MAX_ELEMS`].
fn checked_count(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= MAX_ELEMS)
}

/// Decode a tensor; the error says what is wrong (the caller names the tensor).
fn decode_tensor(t: &pb::TensorProto) -> std::result::Result<Const, String> {
    use pb::tensor_proto::{DataLocation, DataType};
    if t.data_location == Some(DataLocation::External as i32) {
        return Err("its data is stored externally, which is not supported".into());
    }
    if t.segment.is_some() {
        return Err("segmented tensors are not supported".into());
    }
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("invalid dimension {d}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let n = checked_count(&dims).ok_or_else(|| format!("shape {dims:?} is too large"))?;
    let raw = &t.raw_data;
    fn words<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        raw.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        })
    }
    let dt = DataType::try_from(t.data_type).map_err(|_| format!("unknown element type {}", t.data_type))?;
    let (data, width) = match dt {
        DataType::Float if !raw.is_empty() => (CData::F(words::<4>(raw).map(f32::from_le_bytes).collect()), 4),
        DataType::Float => (CData::F(t.float_data.clone()), 0),
        DataType::Double if !raw.is_empty() => {
            (CData::F(words::<8>(raw).map(|b| f64::from_le_bytes(b) as f32).collect()), 8)
        }
        DataType::Double => (CData::F(t.double_data.iter().map(|&x| x as f32).collect()), 0),
        DataType::Int64 if !raw.is_empty() => (CData::I(words::<8>(raw).map(i64::from_le_bytes).collect()), 8),
        DataType::Int64 => (CData::I(t.int64_data.clone()), 0),
        DataType::Int32 if !raw.is_empty() => {
            (CData::I(words::<4>(raw).map(|b| i32::from_le_bytes(b) as i64).collect()), 4)
        }
        DataType::Int32 => (CData::I(t.int32_data.iter().map(|&x| x as i64).collect()), 0),
        other => return Err(format!("element type {} is not supported", other.as_str_name())),
    };
    let c = Const { dims, data };
    if (width != 0 && !raw.len().is_multiple_of(width)) || c.len() != n {
        return Err(format!("it holds {} values for shape {:?}", c.len(), c.dims));
    }
    Ok(c)
}

// ---------------------------------------------------------------------------------------
// Nodes

/// One ONNX node being imported, with its display name.
struct Nd<'a> {
    p: &'a pb::NodeProto,
    name: String,
}

impl Nd<'_> {
    fn op(&self) -> &str {
        &self.p.op_type
    }

    /// A node error.
    fn err(&self, msg: impl Into<String>) -> ImportError {
        ImportError::Node { node: self.name.clone(), op: self.p.op_type.clone(), msg: msg.into() }
    }

    /// An unsupported attribute value; `why` may be empty.
    fn bad_attr(&self, attr: &str, value: impl std::fmt::Display, why: &str) -> ImportError {
        ImportError::UnsupportedAttr {
            node: self.name.clone(),
            op: self.p.op_type.clone(),
            attr: attr.into(),
            value: value.to_string(),
            why: if why.is_empty() { String::new() } else { format!(" ({why})") },
        }
    }

    fn attr(&self, name: &str) -> Option<&pb::AttributeProto> {
        self.p.attribute.iter().find(|a| a.name == name)
    }

    /// Check an attribute's declared type (an undeclared type is accepted).
    fn typed(&self, name: &str, want: pb::attribute_proto::AttributeType) -> Result<Option<&pb::AttributeProto>> {
        match self.attr(name) {
            Some(a) if a.r#type != want as i32 && a.r#type != 0 => {
                let got = pb::attribute_proto::AttributeType::try_from(a.r#type)
                    .map(|t| t.as_str_name())
                    .unwrap_or("UNKNOWN");
                Err(self.err(format!("attribute {name} has type {got}, expected {}", want.as_str_name())))
            }
            a => Ok(a),
        }
    }

    fn attr_i(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.typed(name, pb::attribute_proto::AttributeType::Int)?.map_or(default, |a| a.i))
    }

    fn attr_f(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.typed(name, pb::attribute_proto::AttributeType::Float)?.map_or(default, |a| a.f))
    }

    fn attr_ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self.typed(name, pb::attribute_proto::AttributeType::Ints)?.map(|a| a.ints.clone()))
    }

    fn attr_s(&self, name: &str, default: &str) -> Result<String> {
        Ok(self
            .typed(name, pb::attribute_proto::AttributeType::String)?
            .map_or_else(|| default.to_string(), |a| String::from_utf8_lossy(&a.s).into_owned()))
    }

    /// Input `i`'s name; `None` when absent or empty (an omitted optional input).
    fn input(&self, i: usize) -> Option<&str> {
        self.p.input.get(i).map(String::as_str).filter(|s| !s.is_empty())
    }

    /// Output `i`'s name; `None` when absent or empty.
    fn output(&self, i: usize) -> Option<&str> {
        self.p.output.get(i).map(String::as_str).filter(|s| !s.is_empty())
    }

    /// The first output (checked present before the builder runs).
    fn out0(&self) -> &str {
        self.output(0).unwrap_or("")
    }
}

/// Import state: the graph under construction and the name tables.
struct Ctx {
    g: Graph,
    opset: i64,
    /// Activation names (several names may share a value: Identity, Dropout, folded Add).
    values: HashMap<String, ValueId>,
    /// Constants, or why they could not be decoded.
    consts: HashMap<String, std::result::Result<Const, String>>,
    /// How many node inputs and graph outputs read each name (Identity/Dropout don't count).
    uses: HashMap<String, usize>,
    /// Zero Pads folded into their readers.
    pads: pad::PadFold,
    /// Views of a rank the IR does not hold, between view nodes (copy.rs).
    moved: HashMap<String, copy::Moved>,
}

impl Ctx {
    fn val(&self, v: ValueId) -> &Value {
        &self.g.values[v]
    }

    fn is_const(&self, name: &str) -> bool {
        self.consts.contains_key(name)
    }

    /// Input `i` as an activation.
    fn act(&self, nd: &Nd, i: usize) -> Result<ValueId> {
        let name = nd.input(i).ok_or_else(|| nd.err(format!("input {i} is missing")))?;
        if let Some(&v) = self.values.get(name) {
            Ok(v)
        } else if let Some(m) = self.moved.get(name) {
            Err(nd.err(format!("input {i} (\"{name}\") has ONNX shape {:?}; only views may read values other than [1,K] and [1,C,H,W]", m.shape)))
        } else if self.is_const(name) {
            Err(nd.err(format!("input {i} (\"{name}\") is a constant; an activation is expected")))
        } else {
            Err(nd.err(format!("input {i} (\"{name}\") is not defined by any earlier node or graph input")))
        }
    }

    /// Optional input `i` as a constant.
    fn opt_konst(&self, nd: &Nd, i: usize) -> Result<Option<&Const>> {
        let Some(name) = nd.input(i) else { return Ok(None) };
        match self.consts.get(name) {
            Some(Ok(c)) => Ok(Some(c)),
            Some(Err(why)) => Err(nd.err(format!("constant \"{name}\" cannot be read: {why}"))),
            None if self.values.contains_key(name) => Err(nd.err(format!(
                "input {i} (\"{name}\") must be a constant (initializer or Constant), but it is computed"
            ))),
            None => Err(nd.err(format!("input {i} (\"{name}\") is not defined"))),
        }
    }

    /// Input `i` as a constant.
    fn konst(&self, nd: &Nd, i: usize) -> Result<&Const> {
        self.opt_konst(nd, i)?.ok_or_else(|| nd.err(format!("input {i} is missing")))
    }

    /// Define the activation `name`.
    fn define(&mut self, nd: &Nd, name: &str, dims: [usize; 4], layout: Layout) -> Result<ValueId> {
        if checked_count(&dims).is_none_or(|n| n == 0) {
            return Err(nd.err(format!("output \"{name}\" would have dims {dims:?}")));
        }
        if self.values.contains_key(name) || self.is_const(name) {
            return Err(nd.err(format!("output \"{name}\" is defined twice")));
        }
        let v = self.g.add_value(name, dims, layout);
        self.values.insert(name.to_string(), v);
        Ok(v)
    }

    /// Define a constant output (or record why it cannot be decoded, reported on use).
    fn define_const(&mut self, nd: &Nd, name: &str, c: std::result::Result<Const, String>) -> Result<()> {
        if self.values.contains_key(name) || self.is_const(name) {
            return Err(nd.err(format!("output \"{name}\" is defined twice")));
        }
        self.consts.insert(name.to_string(), c);
        Ok(())
    }

    /// Append a node.
    fn push(&mut self, nd: &Nd, op: NodeOp, inputs: Vec<ValueId>, output: ValueId) {
        self.push_named(nd, &nd.name.clone(), op, inputs, output);
    }

    /// Append a node with its own name (one ONNX node built as several IR nodes).
    fn push_named(&mut self, nd: &Nd, name: &str, op: NodeOp, inputs: Vec<ValueId>, output: ValueId) {
        self.g.nodes.push(Node {
            name: name.to_string(),
            onnx_op: nd.op().to_string(),
            op,
            inputs,
            output,
            act: Activation::None,
        });
    }

    /// Define the first output as `op(x)` with x's dims and layout.
    fn push_same_shape(&mut self, nd: &Nd, op: NodeOp, x: ValueId) -> Result<()> {
        let (dims, layout) = (self.val(x).dims, self.val(x).layout);
        let out = self.define(nd, nd.out0(), dims, layout)?;
        self.push(nd, op, vec![x], out);
        Ok(())
    }

    /// Define the first output as an alias of `x` with new dims/layout.
    fn push_alias(&mut self, nd: &Nd, x: ValueId, dims: [usize; 4], layout: Layout) -> Result<()> {
        let out = self.define(nd, nd.out0(), dims, layout)?;
        self.push(nd, NodeOp::Alias, vec![x], out);
        Ok(())
    }

    /// Let `name` refer to the existing value of input 0 (Identity, Dropout); input 0 may be
    /// a constant. The forwarding node is not counted as a use.
    fn forward(&mut self, nd: &Nd, name: &str) -> Result<()> {
        let src = nd.input(0).ok_or_else(|| nd.err("input 0 is missing"))?;
        if let Some(c) = self.consts.get(src) {
            let c = c.clone();
            if self.values.contains_key(name) || self.is_const(name) {
                return Err(nd.err(format!("output \"{name}\" is defined twice")));
            }
            self.consts.insert(name.to_string(), c);
            return Ok(());
        }
        let v = self.act(nd, 0)?;
        if self.values.contains_key(name) {
            return Err(nd.err(format!("output \"{name}\" is defined twice")));
        }
        self.values.insert(name.to_string(), v);
        if let Some(u) = self.uses.get_mut(src) {
            *u = u.saturating_sub(1);
        }
        Ok(())
    }

    /// Readers of value `v` under all its names (node inputs and graph outputs).
    fn uses_of(&self, v: ValueId) -> usize {
        self.values.iter().filter(|&(_, &id)| id == v).map(|(n, _)| self.uses.get(n).copied().unwrap_or(0)).sum()
    }

    /// Require a 4-D NCHW activation.
    fn need_nchw(&self, nd: &Nd, x: ValueId) -> Result<()> {
        let v = self.val(x);
        if v.layout == Layout::Nchw {
            Ok(())
        } else {
            Err(nd.err(format!(
                "input \"{}\" has ONNX shape {:?} ({:?} layout); {} needs a 4-D NCHW tensor",
                v.name,
                v.onnx_shape(),
                v.layout,
                nd.op()
            )))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Graph

/// The nodes that the graph output depends on, in graph order (dead-node removal).
fn live_nodes<'g>(graph: &'g pb::GraphProto, output: &str) -> Vec<&'g pb::NodeProto> {
    let mut live: std::collections::HashSet<&str> = [output].into();
    let mut keep = vec![false; graph.node.len()];
    for (i, n) in graph.node.iter().enumerate().rev() {
        if n.output.iter().any(|o| live.contains(o.as_str())) {
            keep[i] = true;
            live.extend(n.input.iter().map(String::as_str));
        }
    }
    graph.node.iter().zip(keep).filter(|(_, k)| *k).map(|(n, _)| n).collect()
}

/// The one graph input and output (inputs that are initializers or unread don't count).
fn endpoints<'g>(
    graph: &'g pb::GraphProto,
    consts: &HashMap<String, std::result::Result<Const, String>>,
) -> Result<(&'g pb::ValueInfoProto, &'g pb::ValueInfoProto)> {
    let names = |v: &[&pb::ValueInfoProto]| v.iter().map(|i| format!("\"{}\"", i.name)).collect::<Vec<_>>().join(", ");
    let output = match graph.output.iter().collect::<Vec<_>>().as_slice() {
        [one] => *one,
        [] => return Err(ImportError::Graph("the graph has no output".into())),
        more => {
            return Err(ImportError::Graph(format!(
                "the graph has {} outputs ({}); exactly one is supported",
                more.len(),
                names(more)
            )))
        }
    };
    let live = live_nodes(graph, &output.name);
    let read = |name: &str| name == output.name || live.iter().any(|n| n.input.iter().any(|i| i == name));
    let inputs: Vec<&pb::ValueInfoProto> =
        graph.input.iter().filter(|i| !consts.contains_key(&i.name) && read(&i.name)).collect();
    match inputs.as_slice() {
        [one] => Ok((*one, output)),
        [] => Err(ImportError::Graph("the graph has no (non-initializer) input".into())),
        more => Err(ImportError::Graph(format!(
            "the graph has {} inputs ({}); exactly one is supported (weights must be initializers)",
            more.len(),
            names(more)
        ))),
    }
}

fn import_graph(graph: &pb::GraphProto, opset: i64, opts: &ImportOptions) -> Result<Graph> {
    let mut consts = HashMap::new();
    for t in &graph.initializer {
        consts.insert(t.name.clone(), decode_tensor(t));
    }
    for t in &graph.sparse_initializer {
        let name = t.values.as_ref().map(|v| v.name.clone()).unwrap_or_default();
        consts.insert(name, Err("sparse initializers are not supported".to_string()));
    }
    let (input, output) = endpoints(graph, &consts)?;
    let nodes = live_nodes(graph, &output.name);
    let mut uses: HashMap<String, usize> = HashMap::new();
    for name in nodes.iter().flat_map(|n| n.input.iter()).chain([&output.name]) {
        *uses.entry(name.clone()).or_default() += 1;
    }
    let shape = input::input_shape(input, opts)?;
    let (dims, layout) = input::input_value(&nodes, &input.name, &shape)?;

    let mut ctx = Ctx {
        g: Graph { values: Vec::new(), nodes: Vec::new(), input: 0, output: 0 },
        opset,
        values: HashMap::new(),
        consts,
        uses,
        pads: pad::PadFold::new(&nodes),
        moved: HashMap::new(),
    };
    ctx.g.input = ctx.g.add_value(input.name.clone(), dims, layout);
    ctx.values.insert(input.name.clone(), ctx.g.input);

    let mut errors = Vec::new();
    let mut failed: std::collections::HashSet<String> = Default::default();
    for (idx, p) in nodes.iter().enumerate() {
        let name = if p.name.is_empty() { format!("{}_{idx}", p.op_type) } else { p.name.clone() };
        let nd = Nd { p, name };
        let after_failure = p.input.iter().any(|i| failed.contains(i));
        let r = if after_failure { known_op(&nd) } else { import_node(&mut ctx, &nd) };
        if after_failure || r.is_err() {
            failed.extend(p.output.iter().filter(|o| !o.is_empty()).cloned());
        }
        if let Err(e) = r {
            errors.push(e);
        }
    }
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0)),
        _ => return Err(ImportError::Many(errors)),
    }

    let out_name = &output.name;
    ctx.g.output = match ctx.values.get(out_name) {
        Some(&v) => v,
        None if ctx.is_const(out_name) => {
            return Err(ImportError::Graph(format!("graph output \"{out_name}\" is a constant")))
        }
        None => return Err(ImportError::Graph(format!("graph output \"{out_name}\" is not computed by any node"))),
    };
    // A value reached through Identity / Dropout takes the graph output's name.
    if ctx.g.output != ctx.g.input {
        ctx.g.values[ctx.g.output].name = out_name.clone();
    }
    Ok(ctx.g)
}

/// Ops that a graph-level fold may absorb even without a builder of their own.
fn rewritable(op: &str) -> bool {
    matches!(op, "Pad" | "Mul" | "Add" | "Sub" | "Div")
}

/// Whether the node's op could be imported at all (checked for nodes after a failed one,
/// whose inputs are unknown).
fn known_op(nd: &Nd) -> Result<()> {
    let p = nd.p;
    if !(p.domain.is_empty() || p.domain == "ai.onnx") {
        return Err(ImportError::UnsupportedOp { node: nd.name.clone(), op: format!("{}:{}", p.domain, p.op_type) });
    }
    let op = p.op_type.as_str();
    if ops::builder(op).is_none() && fold::folder(op).is_none() && !rewritable(op) {
        return Err(ImportError::UnsupportedOp { node: nd.name.clone(), op: p.op_type.clone() });
    }
    Ok(())
}

/// Import one node: fold it if its inputs are constants, fold it into a neighbour where
/// exact, else build its IR.
fn import_node(ctx: &mut Ctx, nd: &Nd) -> Result<()> {
    known_op(nd)?;
    let p = nd.p;
    if nd.output(0).is_none() {
        return Err(nd.err("the node has no output"));
    }
    if try_fold(ctx, nd)? || affine::try_fold(ctx, nd)? || pad::try_fold_pad(ctx, nd)? {
        return Ok(());
    }
    let Some(build) = ops::builder(&p.op_type) else {
        if !rewritable(&p.op_type) {
            let computed = (0..p.input.len()).find(|&i| nd.input(i).is_some_and(|s| !ctx.is_const(s))).unwrap_or(0);
            return Err(nd.err(format!(
                "input {computed} (\"{}\") is computed; {} is only supported on constants (folded at import)",
                nd.input(computed).unwrap_or(""),
                p.op_type
            )));
        }
        return Err(nd.err(format!("{} here cannot be folded into a neighbouring op, and kestrel has no {} op", p.op_type, p.op_type)));
    };
    let max_outputs = ops::max_outputs(&p.op_type);
    if let Some(extra) = (max_outputs..p.output.len()).find_map(|i| nd.output(i)) {
        return Err(nd.err(format!("extra output \"{extra}\" is not supported")));
    }
    if pad::try_build_padded(ctx, nd)? {
        return Ok(());
    }
    build(ctx, nd)
}

/// Fold the node when all its inputs are constants (or it is the `Shape` of an
/// activation); `false` when it must be built as IR.
fn try_fold(ctx: &mut Ctx, nd: &Nd) -> Result<bool> {
    let Some(f) = fold::folder(nd.op()) else { return Ok(false) };
    if (1..nd.p.output.len()).any(|i| nd.output(i).is_some_and(|o| ctx.uses.get(o).copied().unwrap_or(0) > 0)) {
        return Ok(false);
    }
    if nd.op() == "Shape" {
        if let Some(&v) = nd.input(0).and_then(|s| ctx.values.get(s)) {
            let c = fold::shape_of(nd, &ctx.val(v).onnx_shape())?;
            ctx.define_const(nd, nd.out0(), Ok(c))?;
            return Ok(true);
        }
    }
    if (0..nd.p.input.len()).any(|i| nd.input(i).is_some_and(|s| !ctx.is_const(s))) {
        return Ok(false);
    }
    let ins = (0..nd.p.input.len()).map(|i| ctx.opt_konst(nd, i)).collect::<Result<Vec<_>>>()?;
    let c = f(nd, &ins, ctx.opset)?;
    ctx.define_const(nd, nd.out0(), Ok(c))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Window;
    use crate::onnx::pb_util::{self as pu, attr_f, attr_i, attr_ints, attr_s, node, tensor_f32, tensor_i64};

    /// Deterministic filler.
    fn ramp(n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * scale).collect()
    }

    fn model_bytes(
        nodes: Vec<pb::NodeProto>,
        inits: Vec<pb::TensorProto>,
        input: (&str, &[usize]),
        output: &str,
        opset: i64,
    ) -> Vec<u8> {
        let graph = pb::GraphProto {
            node: nodes,
            name: "test".into(),
            initializer: inits,
            input: vec![pu::value_info_f32(input.0, input.1)],
            output: vec![pu::value_info_f32(output, &[])],
            ..Default::default()
        };
        pu::encode(&pu::model(graph, opset))
    }

    fn import(
        nodes: Vec<pb::NodeProto>,
        inits: Vec<pb::TensorProto>,
        input: (&str, &[usize]),
        output: &str,
    ) -> Result<Graph> {
        import_onnx(&model_bytes(nodes, inits, input, output, 13))
    }

    fn value<'g>(g: &'g Graph, name: &str) -> &'g Value {
        g.values.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no value {name}"))
    }

    fn conv_node(name: &str, x: &str, w: &str, y: &str, attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
        node("Conv", name, &[x, w], &[y], attrs)
    }

    #[test]
    fn conv_bn_relu_pool_flatten_gemm_softmax() {
        let nodes = vec![
            node(
                "Conv",
                "conv1",
                &["x", "w1", "b1"],
                &["c1"],
                vec![attr_ints("pads", &[1, 1, 1, 1]), attr_ints("kernel_shape", &[3, 3])],
            ),
            node(
                "BatchNormalization",
                "bn1",
                &["c1", "g", "beta", "mean", "var"],
                &["n1"],
                vec![attr_f("epsilon", 1e-3)],
            ),
            node("Relu", "", &["n1"], &["r1"], vec![]),
            node(
                "MaxPool",
                "pool1",
                &["r1"],
                &["p1"],
                vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])],
            ),
            node("Flatten", "flat", &["p1"], &["f"], vec![]),
            node("Gemm", "fc", &["f", "wfc", "bfc"], &["logits"], vec![attr_i("transB", 1), attr_f("alpha", 2.0)]),
            node("Softmax", "sm", &["logits"], &["prob"], vec![attr_i("axis", 1)]),
        ];
        let wfc = ramp(10 * 64, 0.01);
        let inits = vec![
            tensor_f32("w1", &[4, 3, 3, 3], &ramp(108, 0.1)),
            tensor_f32("b1", &[4], &[1.0, 2.0, 3.0, 4.0]),
            tensor_f32("g", &[4], &[1.0; 4]),
            tensor_f32("beta", &[4], &[0.0; 4]),
            tensor_f32("mean", &[4], &[0.5; 4]),
            tensor_f32("var", &[4], &[2.0; 4]),
            tensor_f32("wfc", &[10, 64], &wfc),
            tensor_f32("bfc", &[10], &ramp(10, 1.0)),
        ];
        let g = import(nodes, inits, ("x", &[1, 3, 8, 8]), "prob").unwrap();
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.onnx_op.as_str()).collect();
        assert_eq!(ops, ["Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm", "Softmax"]);
        assert_eq!(g.nodes[2].name, "Relu_2");
        assert_eq!(g.values[g.input].dims, [1, 8, 8, 3]);
        assert_eq!(g.values[g.input].layout, Layout::Nchw);
        assert_eq!(value(&g, "c1").dims, [1, 8, 8, 4]);
        assert_eq!(value(&g, "p1").dims, [1, 4, 4, 4]);
        assert_eq!(value(&g, "f").layout, Layout::FlatChw);
        assert_eq!(value(&g, "f").onnx_shape(), vec![1, 64]);
        assert_eq!(value(&g, "logits").dims, [1, 1, 1, 10]);
        assert_eq!(value(&g, "logits").layout, Layout::FlatHwc);
        assert_eq!(g.values[g.output].name, "prob");
        match &g.nodes[0].op {
            NodeOp::Conv { win, groups, bias, weight } => {
                assert_eq!(win.pads, [1, 1, 1, 1]);
                assert_eq!(*groups, 1);
                assert_eq!(bias, &[1.0, 2.0, 3.0, 4.0]);
                assert_eq!(weight.len(), 108);
            }
            op => panic!("{op:?}"),
        }
        assert!(matches!(&g.nodes[1].op, NodeOp::BatchNorm { eps, .. } if *eps == 1e-3));
        assert!(matches!(g.nodes[3].op, NodeOp::MaxPool { win } if win.kernel == [2, 2] && win.strides == [2, 2]));
        match &g.nodes[5].op {
            NodeOp::Dense { weight, bias } => {
                // transB: B is already [n][k].
                assert_eq!(weight.len(), 640);
                assert_eq!(weight[64 + 3], 2.0 * wfc[64 + 3]);
                assert_eq!(bias, &ramp(10, 1.0));
            }
            op => panic!("{op:?}"),
        }
        assert_eq!(g.nodes[6].op, NodeOp::Softmax(kestrel_runtime::SoftmaxAxes::CHANNELS));
    }

    fn same_pads(mode: &str, in_hw: usize, k: usize, s: usize) -> (Window, [usize; 4]) {
        let nodes = vec![conv_node(
            "c",
            "x",
            "w",
            "y",
            vec![attr_s("auto_pad", mode), attr_ints("strides", &[s as i64, s as i64])],
        )];
        let inits = vec![tensor_f32("w", &[2, 1, k, k], &ramp(2 * k * k, 0.1))];
        let g = import(nodes, inits, ("x", &[1, 1, in_hw, in_hw]), "y").unwrap();
        let NodeOp::Conv { win, .. } = &g.nodes[0].op else { panic!() };
        (*win, g.values[g.output].dims)
    }

    #[test]
    fn auto_pad_same_upper_lower() {
        let (w, d) = same_pads("SAME_UPPER", 5, 2, 1);
        assert_eq!((w.pads, d), ([0, 0, 1, 1], [1, 5, 5, 2]));
        let (w, d) = same_pads("SAME_LOWER", 5, 2, 1);
        assert_eq!((w.pads, d), ([1, 1, 0, 0], [1, 5, 5, 2]));
        // stride 2, k 4 on 7: out 4, total = 3*2 + 4 - 7 = 3.
        let (w, d) = same_pads("SAME_UPPER", 7, 4, 2);
        assert_eq!((w.pads, d), ([1, 1, 2, 2], [1, 4, 4, 2]));
        let (w, _) = same_pads("SAME_LOWER", 7, 4, 2);
        assert_eq!(w.pads, [2, 2, 1, 1]);
        let (w, d) = same_pads("VALID", 7, 3, 2);
        assert_eq!((w.pads, d), ([0; 4], [1, 3, 3, 2]));
    }

    #[test]
    fn tf2onnx_nhwc_input_and_matmul_add_fold() {
        let nodes = vec![
            node("Transpose", "to_nchw", &["x"], &["xt"], vec![attr_ints("perm", &[0, 3, 1, 2])]),
            conv_node("conv", "xt", "w", "c", vec![attr_ints("pads", &[1, 1, 1, 1])]),
            node("Relu", "relu", &["c"], &["r"], vec![]),
            node("Transpose", "to_nhwc", &["r"], &["rt"], vec![attr_ints("perm", &[0, 2, 3, 1])]),
            node("Reshape", "reshape", &["rt", "shape"], &["flat"], vec![]),
            node("MatMul", "dense", &["flat", "wd"], &["mm"], vec![]),
            node("Add", "dense_bias", &["mm", "bd"], &["logits"], vec![]),
        ];
        let wd = ramp(4 * 4 * 6 * 3, 0.01);
        let inits = vec![
            tensor_f32("w", &[6, 2, 3, 3], &ramp(108, 0.1)),
            tensor_i64("shape", &[2], &[-1, 96]),
            tensor_f32("wd", &[96, 3], &wd),
            tensor_f32("bd", &[3], &[0.5, -1.0, 2.0]),
        ];
        let g = import(nodes, inits, ("x", &[1, 4, 4, 2]), "logits").unwrap();
        assert_eq!(g.values[g.input].layout, Layout::Nhwc);
        assert_eq!(g.values[g.input].dims, [1, 4, 4, 2]);
        let ops: Vec<(&str, &str)> = g.nodes.iter().map(|n| (n.name.as_str(), n.onnx_op.as_str())).collect();
        assert_eq!(
            ops,
            [
                ("to_nchw", "Transpose"),
                ("conv", "Conv"),
                ("relu", "Relu"),
                ("to_nhwc", "Transpose"),
                ("reshape", "Reshape"),
                ("dense", "MatMul")
            ]
        );
        assert_eq!(g.nodes[0].op, NodeOp::Alias);
        assert_eq!(value(&g, "xt").layout, Layout::Nchw);
        assert_eq!(value(&g, "rt").layout, Layout::Nhwc);
        assert_eq!(value(&g, "flat").layout, Layout::FlatHwc);
        assert_eq!(value(&g, "flat").dims, [1, 4, 4, 6]);
        let out = &g.values[g.output];
        assert_eq!((out.name.as_str(), out.dims, out.layout), ("logits", [1, 1, 1, 3], Layout::FlatHwc));
        match &g.nodes[5].op {
            NodeOp::Dense { weight, bias } => {
                assert_eq!(bias, &[0.5, -1.0, 2.0]);
                // weight[n][k] = B[k][n]
                assert_eq!(weight[2 * 96 + 7], wd[7 * 3 + 2]);
            }
            op => panic!("{op:?}"),
        }
    }

    #[test]
    fn conv_add_bias_residual_concat_gap() {
        let nodes = vec![
            conv_node("c1", "x", "w", "a", vec![attr_s("auto_pad", "SAME_UPPER")]),
            node("Add", "bias", &["bc", "a"], &["ab"], vec![]),
            node("Clip", "relu6", &["ab", "lo", "hi"], &["r"], vec![]),
            node("Add", "res", &["r", "x"], &["s"], vec![]),
            node("Concat", "cat", &["s", "x"], &["cat"], vec![attr_i("axis", 1)]),
            node("GlobalAveragePool", "gap", &["cat"], &["gap"], vec![]),
            node("Flatten", "fl", &["gap"], &["fl"], vec![]),
        ];
        let inits = vec![
            tensor_f32("w", &[3, 3, 3, 3], &ramp(81, 0.1)),
            tensor_f32("bc", &[1, 3, 1, 1], &[1.0, 2.0, 3.0]),
            tensor_f32("lo", &[], &[0.0]),
            tensor_f32("hi", &[], &[6.0]),
        ];
        let g = import(nodes, inits, ("x", &[1, 3, 5, 5]), "fl").unwrap();
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(ops, ["c1", "relu6", "res", "cat", "gap", "fl"]);
        assert!(matches!(&g.nodes[0].op, NodeOp::Conv { bias, .. } if bias == &[1.0, 2.0, 3.0]));
        assert_eq!(g.values[g.nodes[0].output].name, "ab");
        assert_eq!(g.nodes[1].op, NodeOp::Act(Activation::Clip(0.0, 6.0)));
        assert_eq!(g.nodes[2].op, NodeOp::Add);
        assert_eq!(value(&g, "cat").dims, [1, 5, 5, 6]);
        assert!(matches!(g.nodes[4].op, NodeOp::AvgPool { win, .. } if win.kernel == [5, 5]));
        assert_eq!(g.values[g.output].dims, [1, 1, 1, 6]);
        assert_eq!(g.values[g.output].layout, Layout::FlatChw);
    }

    #[test]
    fn pytorch_dynamic_flatten_and_dropout() {
        let nodes = vec![
            conv_node("c1", "x", "w", "a", vec![]),
            node("Shape", "shape", &["a"], &["sh"], vec![]),
            node("Gather", "gather", &["sh", "zero"], &["n"], vec![attr_i("axis", 0)]),
            node("Unsqueeze", "unsq", &["n", "axes"], &["n1"], vec![]),
            node("Concat", "cat", &["n1", "minus1"], &["spec"], vec![attr_i("axis", 0)]),
            node("Reshape", "view", &["a", "spec"], &["v"], vec![]),
            node("Dropout", "drop", &["v"], &["d"], vec![]),
            node("Gemm", "fc", &["d", "wfc"], &["y"], vec![]),
        ];
        let inits = vec![
            tensor_f32("w", &[2, 1, 3, 3], &ramp(18, 0.1)),
            tensor_i64("zero", &[], &[0]),
            tensor_i64("axes", &[1], &[0]),
            tensor_i64("minus1", &[1], &[-1]),
            tensor_f32("wfc", &[18, 4], &ramp(72, 0.1)),
        ];
        let g = import(nodes, inits, ("x", &[1, 1, 5, 5]), "y").unwrap();
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.onnx_op.as_str()).collect();
        assert_eq!(ops, ["Conv", "Reshape", "Gemm"]);
        assert_eq!(value(&g, "v").layout, Layout::FlatChw);
        assert_eq!(g.nodes[2].inputs, vec![g.nodes[1].output]);
        assert_eq!(g.values[g.output].dims, [1, 1, 1, 4]);
    }

    #[test]
    fn reshape_transpose_softmax_layouts() {
        // [1,8] -> Reshape [1,8,1,1] (NCHW view) -> Transpose(0,2,3,1) -> Reshape [1,-1]
        // -> Softmax (opset 13, last axis) -> Identity (graph output).
        let nodes = vec![
            node("Reshape", "r4", &["x", "s4"], &["a"], vec![]),
            node("BatchNormalization", "bn", &["a", "one", "zero", "zero", "one"], &["b"], vec![]),
            node("Transpose", "t", &["b"], &["c"], vec![attr_ints("perm", &[0, 2, 3, 1])]),
            node("Reshape", "r2", &["c", "s2"], &["d"], vec![]),
            node("Softmax", "sm", &["d"], &["e"], vec![]),
            node("Identity", "id", &["e"], &["out"], vec![]),
        ];
        let inits = vec![
            tensor_i64("s4", &[4], &[1, 8, 1, 1]),
            tensor_i64("s2", &[2], &[0, -1]),
            tensor_f32("one", &[8], &[1.0; 8]),
            tensor_f32("zero", &[8], &[0.0; 8]),
        ];
        let g = import(nodes, inits, ("x", &[1, 8]), "out").unwrap();
        assert_eq!(g.values[g.input].layout, Layout::FlatHwc);
        assert_eq!((value(&g, "a").dims, value(&g, "a").layout), ([1, 1, 1, 8], Layout::Nchw));
        assert_eq!(value(&g, "c").layout, Layout::Nhwc);
        assert_eq!(value(&g, "d").layout, Layout::FlatHwc);
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(ops, ["r4", "bn", "t", "r2", "sm"]);
        assert_eq!(g.values[g.output].name, "out");
        assert_eq!(g.output, g.nodes[4].output);

        // A reshape that moves data is a copy; a softmax over a spatial map normalizes its
        // channels, one over the batch alone is refused.
        let g = import(vec![node("Reshape", "rs", &["x", "s"], &["y"], vec![])], vec![tensor_i64("s", &[4], &[1, 4, 3, 2])], ("x", &[1, 2, 3, 4]), "y")
            .unwrap();
        assert!(matches!(g.nodes[..], [Node { op: NodeOp::Copy { .. }, .. }]), "{:?}", g.nodes);
        let softmax = |attrs, shape: &[usize]| import(vec![node("Softmax", "s", &["x"], &["y"], attrs)], vec![], ("x", shape), "y");
        let g = softmax(vec![attr_i("axis", 1)], &[1, 2, 3, 4]).unwrap();
        assert_eq!(g.nodes[0].op, NodeOp::Softmax(kestrel_runtime::SoftmaxAxes::CHANNELS));
        // Opset 13 default axis -1 on [1,C,1,1] addresses W (of size 1), not C.
        let g = softmax(vec![], &[1, 4, 1, 1]).unwrap();
        assert_eq!(g.nodes[0].op, NodeOp::Softmax(kestrel_runtime::SoftmaxAxes { first: 2, last: 2, log: false }));
        let e = err_of(vec![node("Softmax", "s", &["x"], &["y"], vec![attr_i("axis", 0)])], vec![], &[1, 2, 3, 4], "y");
        assert!(e.starts_with("node \"s\" (Softmax): attribute axis = 0 is not supported"), "{e}");
        assert!(e.contains("batch axis alone"), "{e}");
    }

    fn err_of(nodes: Vec<pb::NodeProto>, inits: Vec<pb::TensorProto>, input: &[usize], out: &str) -> String {
        match import(nodes, inits, ("x", input), out) {
            Ok(g) => panic!("imported: {g:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unsupported_op_and_attributes() {
        let e = err_of(vec![node("LSTM", "lstm1", &["x"], &["y"], vec![])], vec![], &[1, 4], "y");
        assert_eq!(e, "node \"lstm1\" (LSTM): unsupported op");
        let w = || vec![tensor_f32("w", &[2, 1, 3, 3], &ramp(18, 0.1))];
        let e =
            err_of(vec![conv_node("conv3", "x", "w", "y", vec![attr_s("auto_pad", "FOO")])], w(), &[1, 1, 6, 6], "y");
        assert_eq!(e, "node \"conv3\" (Conv): attribute auto_pad = \"FOO\" is not supported");
        let pool = |k: i64| {
            vec![node(
                "MaxPool",
                "mp",
                &["x"],
                &["y"],
                vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[2, 2]), attr_i("ceil_mode", 1)],
            )]
        };
        // ceil_mode that adds a window: extra bottom/right padding (skipped by max pools).
        let g = import(pool(3), vec![], ("x", &[1, 1, 6, 6]), "y").unwrap();
        assert_eq!(g.values[g.output].dims, [1, 3, 3, 1]);
        let NodeOp::MaxPool { win } = &g.nodes[0].op else { panic!("{:?}", g.nodes[0].op) };
        assert_eq!(win.pads, [0, 0, 1, 1]);
        // An average pool that counts pads can't take the extra padding.
        let avg = vec![node(
            "AveragePool",
            "ap",
            &["x"],
            &["y"],
            vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("strides", &[2, 2]), attr_i("ceil_mode", 1), attr_i("count_include_pad", 1)],
        )];
        let e = err_of(avg, vec![], &[1, 1, 6, 6], "y");
        assert!(e.contains("node \"ap\" (AveragePool): attribute ceil_mode = 1"), "{e}");
        // ceil_mode that doesn't change the size is fine.
        let g = import(pool(2), vec![], ("x", &[1, 1, 6, 6]), "y").unwrap();
        assert_eq!(g.values[g.output].dims, [1, 3, 3, 1]);
        let e =
            err_of(vec![node("Flatten", "fl", &["x"], &["y"], vec![attr_i("axis", 2)])], vec![], &[1, 2, 3, 3], "y");
        assert!(e.contains("node \"fl\" (Flatten): attribute axis = 2"), "{e}");
        // A transpose that moves data is a copy.
        let g = import(vec![node("Transpose", "t", &["x"], &["y"], vec![attr_ints("perm", &[0, 1, 3, 2])])], vec![], ("x", &[1, 2, 3, 4]), "y").unwrap();
        assert!(matches!(g.nodes[..], [Node { op: NodeOp::Copy { .. }, .. }]), "{:?}", g.nodes);
        // Conv weight not matching the input channels.
        let e = err_of(vec![conv_node("c", "x", "w", "y", vec![])], w(), &[1, 3, 6, 6], "y");
        assert!(e.starts_with("node \"c\" (Conv): weight shape [2, 1, 3, 3]"), "{e}");
        // Weight that is a graph input rather than a constant.
        let e = err_of(vec![node("Relu", "r", &["x"], &["y"], vec![])], vec![], &[2, 1, 4, 4], "y");
        assert!(e.contains("batch size 2"), "{e}");
    }

    #[test]
    fn graph_level_errors() {
        let g = pb::GraphProto {
            node: vec![node("Add", "add", &["a", "b"], &["y"], vec![])],
            input: vec![pu::value_info_f32("a", &[1, 4]), pu::value_info_f32("b", &[1, 4])],
            output: vec![pu::value_info_f32("y", &[1, 4])],
            ..Default::default()
        };
        let e = import_onnx(&pu::encode(&pu::model(g.clone(), 13))).unwrap_err().to_string();
        assert!(e.contains("2 inputs (\"a\", \"b\")"), "{e}");
        let e = import_onnx(&pu::encode(&pu::model(g, 22))).unwrap_err().to_string();
        assert!(e.starts_with("unsupported opset"), "{e}");
        let e = import_path(Path::new("/nonexistent/model.onnx")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/model.onnx"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(import_onnx(&[]).unwrap_err().to_string().starts_with("not an ONNX model"));
        assert!(import_onnx(b"hello world, this is not protobuf").is_err());
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            assert!(import_onnx(&bytes).is_err());
        }
        // Every truncation and a few bit flips of a valid model.
        let nodes = vec![
            conv_node("c", "x", "w", "y0", vec![attr_ints("pads", &[1, 1, 1, 1])]),
            node("MaxPool", "p", &["y0"], &["y"], vec![attr_ints("kernel_shape", &[2, 2])]),
        ];
        let bytes =
            model_bytes(nodes, vec![tensor_f32("w", &[2, 1, 3, 3], &ramp(18, 0.1))], ("x", &[1, 1, 6, 6]), "y", 13);
        assert!(import_onnx(&bytes).is_ok());
        for n in 0..bytes.len() {
            let _ = import_onnx(&bytes[..n]);
            let mut b = bytes.clone();
            b[n] ^= 1 << (n % 8);
            let _ = import_onnx(&b);
            b[n] = 0xff;
            let _ = import_onnx(&b);
        }
    }

    /// Decode a backend node test with its weight inputs (inputs 1..) turned into
    /// initializers from `test_data_set_0`; also the expected output shape.
    fn node_test_model(dir: &Path) -> Option<(pb::ModelProto, Vec<usize>)> {
        let bytes = std::fs::read(dir.join("model.onnx")).ok()?;
        let mut m = pb::ModelProto::decode(bytes.as_slice()).ok()?;
        let graph = m.graph.as_mut()?;
        for i in 1..graph.input.len() {
            if let Ok(t) = std::fs::read(dir.join(format!("test_data_set_0/input_{i}.pb"))) {
                let mut t = pb::TensorProto::decode(t.as_slice()).ok()?;
                t.name = graph.input[i].name.clone();
                graph.initializer.push(t);
            }
        }
        let out = std::fs::read(dir.join("test_data_set_0/output_0.pb")).ok()?;
        let out = pb::TensorProto::decode(out.as_slice()).ok()?;
        Some((m, out.dims.iter().map(|&d| d as usize).collect()))
    }

    /// The ONNX backend node tests (Debian `libonnx-testdata`) of the supported op families:
    /// imported as they are, and again with the batch dim of the data input set to 1
    /// (most of them use batch 2..6); the output shape must match `output_0.pb`.
    #[test]
    fn onnx_node_tests() {
        use pb::tensor_shape_proto::dimension::Value as DV;
        let root = Path::new("/usr/share/libonnx-testdata/data/node");
        if !root.is_dir() {
            eprintln!("skipped: {} not found", root.display());
            return;
        }
        let prefixes = [
            "test_basic_conv",
            "test_conv_",
            "test_maxpool",
            "test_averagepool",
            "test_globalaveragepool",
            "test_globalmaxpool",
            "test_gemm",
            "test_matmul_2d",
            "test_batchnorm",
            "test_softmax",
            "test_flatten",
            "test_concat",
            "test_leakyrelu",
            "test_clip",
            "test_relu",
            "test_dropout",
            "test_identity",
            "test_add",
            "test_reshape",
            "test_transpose",
            "test_sigmoid",
            "test_hardsigmoid",
            "test_hardswish",
            "test_tanh",
            "test_elu",
            "test_selu",
            "test_softplus",
            "test_prelu",
            "test_mul",
            "test_pad",
            "test_reflect_pad",
            "test_edge_pad",
        ];
        let mut dirs: Vec<String> =
            std::fs::read_dir(root).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
        dirs.sort();
        let report = |rebatch: bool, ok: &mut Vec<String>, failed: &mut Vec<String>| {
            for name in dirs.iter().filter(|d| prefixes.iter().any(|p| d.starts_with(p)) && !d.ends_with("_expanded")) {
                let Some((mut m, mut expect)) = node_test_model(&root.join(name)) else { continue };
                if rebatch {
                    let Some(dim0) =
                        m.graph.as_mut().and_then(|g| g.input.first_mut()).and_then(|i| match &mut i.r#type {
                            Some(pb::TypeProto { value: Some(pb::type_proto::Value::TensorType(t)), .. }) => {
                                t.shape.as_mut()?.dim.first_mut()
                            }
                            _ => None,
                        })
                    else {
                        continue;
                    };
                    // Only where the output's leading dim is that batch (not e.g. Flatten axis 0).
                    let batch = match dim0.value {
                        Some(DV::DimValue(b)) if b > 1 => b as usize,
                        _ => continue,
                    };
                    if expect.first() != Some(&batch) {
                        continue;
                    }
                    dim0.value = Some(DV::DimValue(1));
                    expect[0] = 1;
                }
                match import_onnx(&pu::encode(&m)) {
                    Ok(g) if g.values[g.output].onnx_shape() == expect => ok.push(name.clone()),
                    Ok(g) => failed.push(format!(
                        "{name}: output shape {:?}, expected {expect:?}",
                        g.values[g.output].onnx_shape()
                    )),
                    Err(e) => failed.push(format!("{name}: {e}")),
                }
            }
        };
        let (mut ok, mut failed, mut ok1, mut failed1) = (vec![], vec![], vec![], vec![]);
        report(false, &mut ok, &mut failed);
        report(true, &mut ok1, &mut failed1);
        eprintln!("imported as is ({}): {}", ok.len(), ok.join(" "));
        eprintln!("rejected as is ({}):\n  {}", failed.len(), failed.join("\n  "));
        eprintln!("imported at batch 1 ({}): {}", ok1.len(), ok1.join(" "));
        eprintln!("rejected at batch 1 ({}):\n  {}", failed1.len(), failed1.join("\n  "));
        let must_pass = [
            "test_basic_conv_with_padding",
            "test_basic_conv_without_padding",
            "test_conv_with_autopad_same",
            "test_conv_with_strides_and_asymmetric_padding",
            "test_conv_with_strides_no_padding",
            "test_conv_with_strides_padding",
            "test_averagepool_2d_pads",
            "test_averagepool_2d_pads_count_include_pad",
            "test_averagepool_2d_precomputed_same_upper",
            "test_averagepool_2d_same_lower",
            "test_maxpool_2d_dilations",
            "test_maxpool_2d_precomputed_pads",
            "test_maxpool_2d_same_lower",
            "test_maxpool_2d_same_upper",
            "test_maxpool_2d_strides",
            "test_softmax_example",
        ];
        for t in must_pass {
            assert!(ok.iter().any(|o| o == t), "{t} should import");
        }
        assert!(failed.iter().chain(&failed1).all(|f| !f.contains("output shape")), "shape mismatches");
    }
}
