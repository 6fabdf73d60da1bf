//! The graph input: its static shape (symbolic batch fixed to 1, `--batch 1` and
//! `--input-shape` overrides) and the layout its bytes are given in.

use super::{checked_count, ImportError, Result, MAX_ELEMS};
use crate::ir::Layout;
use crate::onnx::pb;

/// How the caller fixes the input's shape where the model leaves it open or asks for more
/// than batch 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// `--batch N`: the batch to compile at; only 1 is supported (it lets a model whose
    /// input declares a fixed batch above 1 compile at batch 1).
    pub batch: Option<usize>,
    /// `--input-shape`: the input's full ONNX shape (fixes dynamic H or W).
    pub input_shape: Option<Vec<usize>>,
}

fn graph_err(msg: String) -> ImportError {
    ImportError::Graph(msg)
}

/// One input dimension as written in the model.
fn declared(d: &pb::tensor_shape_proto::Dimension) -> std::result::Result<usize, String> {
    use pb::tensor_shape_proto::dimension::Value as DV;
    match &d.value {
        Some(DV::DimValue(n)) if (1..=MAX_ELEMS as i64).contains(n) => Ok(*n as usize),
        Some(DV::DimValue(n)) => Err(n.to_string()),
        Some(DV::DimParam(p)) => Err(format!("\"{p}\"")),
        None => Err("?".into()),
    }
}

/// The static ONNX shape of graph input `vi` under `opts`.
pub(super) fn input_shape(vi: &pb::ValueInfoProto, opts: &ImportOptions) -> Result<Vec<usize>> {
    let name = &vi.name;
    let Some(pb::type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(graph_err(format!("graph input \"{name}\" is not a tensor")));
    };
    if t.elem_type != pb::tensor_proto::DataType::Float as i32 {
        let ty = pb::tensor_proto::DataType::try_from(t.elem_type).map(|d| d.as_str_name()).unwrap_or("UNKNOWN");
        return Err(graph_err(format!("graph input \"{name}\" has element type {ty}; only FLOAT is supported")));
    }
    if let Some(b) = opts.batch.filter(|&b| b != 1) {
        return Err(graph_err(format!("--batch {b}: kestrel compiles batch 1 only (--batch 1)")));
    }
    let shape = t.shape.as_ref().ok_or_else(|| graph_err(format!("graph input \"{name}\" has no shape")))?;
    let dims: Vec<_> = shape.dim.iter().map(declared).collect();
    if let Some(want) = &opts.input_shape {
        return overridden(name, &dims, want);
    }
    dims.iter()
        .enumerate()
        .map(|(i, d)| match (d, i) {
            (Ok(1), 0) | (Err(_), 0) => Ok(1),
            (Ok(_), 0) if opts.batch == Some(1) => Ok(1),
            (Ok(n), 0) => Err(graph_err(format!(
                "graph input \"{name}\" has batch size {n}; kestrel compiles batch 1: pass --batch 1 to compile it at batch 1"
            ))),
            (Ok(n), _) => Ok(*n),
            (Err(what), _) => Err(graph_err(format!(
                "graph input \"{name}\" dimension {i} is {what} (dynamic); pass its shape with --input-shape, e.g. --input-shape {}",
                example(&dims)
            ))),
        })
        .collect()
}

/// `--input-shape` against the declared dims: same rank, and fixed dims kept (batch aside).
fn overridden(name: &str, dims: &[std::result::Result<usize, String>], want: &[usize]) -> Result<Vec<usize>> {
    if want.len() != dims.len() {
        return Err(graph_err(format!(
            "--input-shape {} has rank {}, but graph input \"{name}\" has rank {}",
            join(want),
            want.len(),
            dims.len()
        )));
    }
    if want.first() != Some(&1) || want.iter().any(|&d| d == 0) {
        return Err(graph_err(format!("--input-shape {}: the batch must be 1 and every dim positive", join(want))));
    }
    if let Some((i, d)) = dims.iter().enumerate().skip(1).find_map(|(i, d)| d.as_ref().ok().filter(|&&d| d != want[i]).map(|d| (i, d))) {
        return Err(graph_err(format!(
            "--input-shape {}: dimension {i} of graph input \"{name}\" is fixed at {d}",
            join(want)
        )));
    }
    Ok(want.to_vec())
}

fn join(d: &[usize]) -> String {
    d.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// An `--input-shape` value for the message: batch 1, the fixed dims, 224 for open ones.
fn example(dims: &[std::result::Result<usize, String>]) -> String {
    let d: Vec<usize> = dims.iter().enumerate().map(|(i, d)| if i == 0 { 1 } else { *d.as_ref().unwrap_or(&224) }).collect();
    join(&d)
}

/// True when a 4-D input `[1, a, b, c]` is NHWC: its only reader is a `Transpose(0,3,1,2)`
/// (tf2onnx), or no reader needs NCHW and it looks like an image with channels last
/// (`c` ≤ 4 < `a`, `b`; tf2onnx replaces the transpose of a 1-channel input by a Reshape).
pub(super) fn is_nhwc(nodes: &[&pb::NodeProto], name: &str, shape: &[usize]) -> bool {
    let readers: Vec<&&pb::NodeProto> = nodes.iter().filter(|n| n.input.iter().any(|i| i == name)).collect();
    let transpose = |n: &pb::NodeProto| {
        n.op_type == "Transpose" && n.attribute.iter().find(|a| a.name == "perm").is_some_and(|a| a.ints == [0, 3, 1, 2])
    };
    if let [only] = readers.as_slice() {
        if transpose(only) {
            return true;
        }
    }
    let nchw_reader = readers.iter().any(|n| {
        matches!(
            n.op_type.as_str(),
            "Conv" | "MaxPool" | "AveragePool" | "GlobalAveragePool" | "GlobalMaxPool" | "BatchNormalization" | "LRN"
        )
    });
    matches!(*shape, [_, a, b, c] if !nchw_reader && c <= 4 && a > 4 && b > 4)
}

/// Physical dims and layout of the graph input of ONNX shape `shape`.
pub(super) fn input_value(nodes: &[&pb::NodeProto], name: &str, shape: &[usize]) -> Result<([usize; 4], Layout)> {
    let (dims, layout) = match *shape {
        [_, h, w, c] if is_nhwc(nodes, name, shape) => ([1, h, w, c], Layout::Nhwc),
        [_, c, h, w] => ([1, h, w, c], Layout::Nchw),
        [_, k] => ([1, 1, 1, k], Layout::FlatHwc),
        _ => {
            return Err(graph_err(format!(
                "graph input \"{name}\" has shape {shape:?}; expected [1,C,H,W], [1,H,W,C] or [1,K]"
            )))
        }
    };
    if checked_count(&dims).is_none() {
        return Err(graph_err(format!("graph input \"{name}\" is too large: {shape:?}")));
    }
    Ok((dims, layout))
}
