"""f32 parity of a compiled .kes with ONNX Runtime on the float ONNX model.

Usage: corpus_parity.py MODEL.onnx MODEL.kes KESTREL
One seeded random input in the model's input layout (batch 1; a model declaring a larger
fixed batch gets the input repeated and its first output row compared). Prints the largest
absolute difference relative to the largest |output| ("rel"), e.g. `rel 3.1e-07`.
ONNX Runtime has no kernels for some old opsets (the pytorch-converted tests are opset 6):
such a model is converted to opset 13 with onnx's version converter for the reference run,
and the line says so (`rel 1.2e-07 (ORT on opset 13)`); where it still can't run it (the
conversion changes PRelu's per-channel slope of opset 6 into a broadcast over W), an ONNX
test's own stored input and output (test_data_set_0, batch row 0) are the reference.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnx.numpy_helper  # noqa: E402
import onnxruntime as ort  # noqa: E402


def stored_reference(onnx_path):
    """The ONNX test's own input_0.pb / output_0.pb beside the model (batch row 0), or None."""
    d = os.path.join(os.path.dirname(onnx_path), "test_data_set_0")
    i, o = os.path.join(d, "input_0.pb"), os.path.join(d, "output_0.pb")
    if not (os.path.exists(i) and os.path.exists(o)):
        return None
    load = lambda p: onnx.numpy_helper.to_array(onnx.load_tensor(p))
    return load(i)[0:1].astype(np.float32), load(o)[0].ravel()


def ort_reference(onnx_path):
    """(one seeded input of batch 1, ONNX Runtime's first output row, note)."""
    note = ""
    try:
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 (ORT raises its own types)
        if "NOT_IMPLEMENTED" not in str(e):
            raise
        from onnx import version_converter

        m = version_converter.convert_version(onnx.load(onnx_path), 13)
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        note = " (ORT on opset 13)"
    inp = sess.get_inputs()[0]
    dims = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    rng = np.random.default_rng(0)
    x1 = rng.random([1] + dims[1:], dtype=np.float32)
    feed = {inp.name: np.repeat(x1, dims[0], axis=0)}
    # Graph inputs no node reads (tf2onnx leaves Keras' folded Normalization variables as
    # inputs, e.g. in EfficientNetB0): ONNX Runtime still wants a value; kestrel ignores them.
    used = {i for n in onnx.load(onnx_path, load_external_data=False).graph.node for i in n.input}
    for extra in sess.get_inputs()[1:]:
        if extra.name in used:
            print(f"input {extra.name} is read by the graph: one data input expected")
            sys.exit(1)
        feed[extra.name] = np.zeros([d if isinstance(d, int) and d > 0 else 1 for d in extra.shape], dtype=np.float32)
    return x1, sess.run(None, feed)[0][0].ravel(), note


def main():
    onnx_path, kes, kestrel = sys.argv[1:4]
    try:
        x1, want, note = ort_reference(onnx_path)
    except Exception as e:  # noqa: BLE001
        # ONNX Runtime can't run it (an old opset whose conversion changes its meaning, as
        # PRelu's per-channel slope at opset 6): the test's own stored output is the reference.
        ref = stored_reference(onnx_path)
        if ref is None:
            raise
        print(f"ONNX Runtime: {str(e).splitlines()[0]}", file=sys.stderr)
        (x1, want), note = ref, " (the test's stored output)"
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
