//! ONNX → IR (in progress)
