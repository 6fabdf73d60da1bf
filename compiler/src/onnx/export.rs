//! IR → ONNX (in progress)
