//! ONNX in and out, through the protobuf types tract-onnx re-exports (`tract_onnx::pb`).

pub mod export;
pub mod import;
pub mod pb_util;
