"""Peers in the same run (issue 13 item 4): LiteRT and OpenVINO on the same Keras model.

For one model: build it with Keras (seeded weights, scripts/corpus_export.py's builders and
tf2onnx export), convert the same model with the TFLite converter (full-integer int8, int8
input and output, random-uniform representative dataset), write kestrel's QDQ export with
`kestrel compile --export-onnx` (same random calibration as `kestrel bench`), then time,
interleaved round by round with kestrel bench's protocol (batch 1, one thread; warm-up of at
least 3 inferences and 200 ms; samples of ~2 ms batches; median of the per-inference sample
times after at least --time seconds and 20 samples):
  LiteRT int8 (XNNPACK, 1 thread), OpenVINO int8 (our QDQ), OpenVINO f32 and bf16 (float ONNX).
Also prints what OpenVINO's runtime model executes (layer types x precisions) per variant.
Writes OUT/NAME-peers.md (a table) and OUT/NAME.onnx (the float model for `kestrel bench`).

Usage: bench-peers.py NAME OUT_DIR --kestrel PATH [--time S]
NAME: keras_cifar_cnn, vgg16_flatten_150 or mobilenet_v2.
"""

import argparse
import collections
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import corpus_export as ce  # noqa: E402

keras, tf, L = ce.keras, ce.tf, ce.L


def vgg16_flatten_150():
    """Keras VGG16 base at 150x150 + Flatten + Dense 256 (relu) + Dense 12 (softmax)."""
    b = ce.A.VGG16(weights=None, include_top=False, input_shape=(150, 150, 3))
    x = L.Flatten()(b.output)
    x = L.Dense(256, activation="relu")(x)
    return keras.Model(b.input, L.Dense(12, activation="softmax")(x))


ce.MODELS.setdefault("vgg16_flatten_150", (vgg16_flatten_150, 150, 150, 3))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def build(name):
    """The same Keras model corpus_export.export builds (same seed, same builder)."""
    b, h, w, c = ce.MODELS[name]
    keras.utils.set_random_seed(0)
    return b(), (1, h, w, c)


def tflite_int8(model, shape, path, n_calib):
    rng = np.random.default_rng(1000)
    calib = [rng.random(shape, dtype=np.float32) for _ in range(n_calib)]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x] for x in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    open(path, "wb").write(conv.convert())


def kestrel_qdq(kestrel, onnx_path, shape, out_dir, n_calib):
    """Our QDQ export: `kestrel compile --export-onnx`, calibrated on random inputs as bench is."""
    cal = os.path.join(out_dir, "calib")
    os.makedirs(cal, exist_ok=True)
    rng = np.random.default_rng(1000)
    for i in range(n_calib):
        np.save(os.path.join(cal, f"{i}.npy"), rng.random(shape, dtype=np.float32))
    qdq = onnx_path[:-5] + ".qdq.onnx"
    subprocess.run([kestrel, "compile", onnx_path, "--calib", cal, "--export-onnx", qdq,
                    "-o", onnx_path[:-5] + ".int8.kes"], check=True, stdout=subprocess.DEVNULL)
    return qdq


class Slot:
    def __init__(self, label, precision, run, note=""):
        self.label, self.precision, self.run, self.note = label, precision, run, note
        self.samples, self.batch = [], 1


def litert_slot(path, x):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    s, z = i["quantization"]
    xq = np.clip(np.round(x / s + z), -128, 127).astype(np.int8)

    def run():
        it.set_tensor(i["index"], xq)
        it.invoke()
        return it.get_tensor(o["index"])
    return Slot("LiteRT int8 (XNNPACK; int8 in/out)", "int8", run)


def ov_runtime_summary(compiled):
    """Layer type x runtime precision counts of OpenVINO's executed graph (skipping I/O)."""
    c = collections.Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        t = rt["layerType"].astype(str) if "layerType" in rt else op.get_type_name()
        p = rt["runtimePrecision"].astype(str) if "runtimePrecision" in rt else "?"
        if t in ("Input", "Output", "Parameter", "Result", "Const", "Constant", "Reorder", "Reshape"):
            continue
        c[(t, p)] += 1
    return ", ".join(f"{t}:{p} x{n}" for (t, p), n in c.most_common(12))


def ov_slot(core, path, label, precision, hint, x, log):
    cfg = {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    if hint:
        cfg["INFERENCE_PRECISION_HINT"] = hint
    compiled = core.compile_model(core.read_model(path), "CPU", cfg)
    req = compiled.create_infer_request()
    got = str(compiled.get_property("INFERENCE_PRECISION_HINT")).replace("<Type: ", "").strip("'>")
    summary = ov_runtime_summary(compiled)
    log(f"{label}: INFERENCE_PRECISION_HINT reported {got}; runtime model: {summary}")

    def run():
        return req.infer({0: x})
    return Slot(label, precision, run, f"hint {hint or 'default'}, reports {got}"), summary


def time_slots(slots, seconds, min_runs=20):
    # Warm-up (as compiler/engines/src/bench.rs): >= 3 runs and until 200 ms (<= 1000 runs);
    # then batch each sample to ~2 ms.
    for s in slots:
        t, n = time.perf_counter(), 0
        while n < 3 or (time.perf_counter() - t < 0.2 and n < 1000):
            s.run()
            n += 1
        per = (time.perf_counter() - t) / n
        s.batch = max(1, min(100_000, int(np.ceil(0.002 / per))))
    start = time.perf_counter()
    while True:
        for s in slots:
            t = time.perf_counter()
            for _ in range(s.batch):
                s.run()
            s.samples.append((time.perf_counter() - t) / s.batch)
        if len(slots[0].samples) >= min_runs and time.perf_counter() - start >= seconds:
            break


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("out")
    ap.add_argument("--kestrel", required=True)
    ap.add_argument("--time", type=float, default=10.0)
    ap.add_argument("--calib", type=int, default=4)
    a = ap.parse_args()
    try:
        import openvino as ov
        import ai_edge_litert  # noqa: F401
    except ImportError as e:
        sys.exit(f"bench-peers: {e}; run scripts/bench.sh --peers (it installs openvino and ai-edge-litert)")
    log = lambda m: print(f"[{a.name}] {m}", file=sys.stderr, flush=True)  # noqa: E731
    os.makedirs(a.out, exist_ok=True)
    onnx_path = os.path.join(a.out, a.name + ".onnx")
    log(f"tf2onnx export (corpus_export.export): {ce.export(a.name, a.out)}")
    model, shape = build(a.name)
    tfl = os.path.join(a.out, a.name + ".int8.tflite")
    if not os.path.exists(tfl):
        log("TFLite converter, full-integer int8")
        tflite_int8(model, shape, tfl, a.calib)
    qdq = kestrel_qdq(a.kestrel, onnx_path, shape, a.out, a.calib)

    x = np.random.default_rng(12_345).random(shape, dtype=np.float32)
    core = ov.Core()
    caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    log(f"OpenVINO {ov.__version__} CPU capabilities: {caps}")
    # Same weights check: Keras vs OpenVINO f32 on the float ONNX.
    ref = model(x, training=False).numpy()
    slots, summaries = [litert_slot(tfl, x)], {}
    for path, label, prec, hint in [
        (qdq, "OpenVINO int8 (our QDQ)", "int8", None),
        (onnx_path, "OpenVINO f32", "f32", "f32"),
        (onnx_path, "OpenVINO bf16", "bf16", "bf16"),
    ]:
        if hint == "bf16" and "BF16" not in caps:
            log("no BF16 in OpenVINO's CPU capabilities: bf16 row skipped")
            continue
        s, summaries[label] = ov_slot(core, path, label, prec, hint, x, log)
        slots.append(s)
    out_f32 = next(iter(slots[2].run().values())) if len(slots) > 2 else None
    if out_f32 is not None:
        log(f"Keras vs OpenVINO f32 max |diff| = {np.abs(out_f32 - ref).max():.2e} (same weights)")

    log(f"timing {len(slots)} engines interleaved, >= {a.time} s")
    time_slots(slots, a.time)
    md = os.path.join(a.out, a.name + "-peers.md")
    with open(md, "w") as f:
        f.write(f"CPU: {cpu_model()}; OpenVINO {ov.__version__}; batch 1, 1 thread; "
                f"{len(slots[0].samples)} interleaved rounds of >= {a.time} s\n\n")
        f.write("| engine | precision | median ms | min ms | samples | note |\n|---|---|---|---|---|---|\n")
        for s in slots:
            v = s.samples
            f.write(f"| {s.label} | {s.precision} | {statistics.median(v) * 1e3:.3f} | "
                    f"{min(v) * 1e3:.3f} | {len(v)} | {s.note} |\n")
        f.write("\nOpenVINO runtime model (layer type:runtime precision x count):\n\n")
        for k, v in summaries.items():
            f.write(f"- {k}: {v}\n")
    print(open(md).read())


if __name__ == "__main__":
    main()
