//! Small constructors for ONNX protobuf messages (the prost types tract-onnx re-exports).
//! Shared by the exporter, the model zoo and tests; decoding lives in `import`.

use prost::Message;
use crate::onnx::pb;

pub use pb::tensor_proto::DataType;

/// The opset our exports declare.
pub const OPSET: i64 = 13;

/// A float attribute.
pub fn attr_f(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: pb::attribute_proto::AttributeType::Float as i32, f: v, ..Default::default() }
}

/// An int attribute.
pub fn attr_i(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: pb::attribute_proto::AttributeType::Int as i32, i: v, ..Default::default() }
}

/// An ints attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: pb::attribute_proto::AttributeType::Ints as i32, ints: v.to_vec(), ..Default::default() }
}

/// A string attribute.
pub fn attr_s(name: &str, v: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// A node.
pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

/// A float tensor initializer.
pub fn tensor_f32(name: &str, dims: &[usize], v: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An int8 tensor initializer.
pub fn tensor_i8(name: &str, dims: &[usize], v: &[i8]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Int8 as i32,
        raw_data: v.iter().map(|&x| x as u8).collect(),
        ..Default::default()
    }
}

/// An int32 tensor initializer.
pub fn tensor_i32(name: &str, dims: &[usize], v: &[i32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Int32 as i32,
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An int64 tensor initializer (Reshape shapes).
pub fn tensor_i64(name: &str, dims: &[usize], v: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Int64 as i32,
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A float tensor value info (graph input/output).
pub fn value_info_f32(name: &str, dims: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value as DV, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims.iter().map(|&d| Dimension { value: Some(DV::DimValue(d as i64)), ..Default::default() }).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A model around a graph, declaring the default-domain opset `opset`.
pub fn model(graph: pb::GraphProto, opset: i64) -> pb::ModelProto {
    pb::ModelProto {
        ir_version: 7,
        producer_name: "kestrel".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: opset }],
        graph: Some(graph),
        ..Default::default()
    }
}

/// Serialize a model.
pub fn encode(m: &pb::ModelProto) -> Vec<u8> {
    m.encode_to_vec()
}
