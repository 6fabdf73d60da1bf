//! ONNX in and out, through the prost types of `onnx.proto` checked in as [`pb`].

pub mod export;
pub mod import;
pub mod pb;
pub mod pb_util;
