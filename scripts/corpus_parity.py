"""f32 parity of a compiled .kes with ONNX Runtime on the float ONNX model.

Usage: corpus_parity.py MODEL.onnx MODEL.kes KESTREL
One seeded random input in the model's input layout (batch 1; a model declaring a larger
fixed batch gets the input repeated and its first output row compared). Prints the largest
absolute difference relative to the largest |output| ("rel"), e.g. `rel 3.1e-07`.
ONNX Runtime has no kernels for some old opsets (the pytorch-converted tests are opset 6):
such a model is converted to opset 13 with onnx's version converter for the reference run,
and the line says so (`rel 1.2e-07 (ORT on opset 13)`).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort


def main():
    onnx_path, kes, kestrel = sys.argv[1:4]
    note = ""
    try:
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 (ORT raises its own types)
        if "NOT_IMPLEMENTED" not in str(e):
            raise
        import onnx
        from onnx import version_converter

        m = version_converter.convert_version(onnx.load(onnx_path), 13)
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        note = " (ORT on opset 13)"
    inp = sess.get_inputs()[0]
    dims = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    rng = np.random.default_rng(0)
    x1 = rng.random([1] + dims[1:], dtype=np.float32)
    x = np.repeat(x1, dims[0], axis=0)
    want = sess.run(None, {inp.name: x})[0][0].ravel()
    with tempfile.TemporaryDirectory() as d:
        npy = os.path.join(d, "input.npy")
        np.save(npy, x1)
        out = subprocess.run([kestrel, "run", kes, npy, "--json"], check=True, capture_output=True, text=True).stdout
    got = np.array(json.loads(out)[0]["output"], dtype=np.float64).ravel()
    if got.shape != want.shape:
        print(f"shape {got.shape} vs ORT {want.shape}")
        sys.exit(1)
    rel = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))
    print(f"rel {rel:.1e}{note}")
    sys.exit(0 if rel <= 1e-4 else 1)


if __name__ == "__main__":
    main()
