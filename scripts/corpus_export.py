"""Export the Keras part of the model corpus (issue 12) to ONNX with tf2onnx.

Keras' own application code with seeded random weights (pretrained weights can't be fetched
here), batch 1, NHWC input named "input", opset 17. Usage: corpus_export.py OUT_DIR [NAME...]
Existing files are kept (delete one to export it again). Prints one line per model.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

A = keras.applications
L = keras.layers


def course_mnist():
    """The course's Keras MNIST CNN (Sequential)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(32, 3, activation="relu"),
        L.Conv2D(64, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Dropout(0.25),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ])


def course_cifar():
    """The course's CIFAR-10 CNN: conv32, conv32, pool, conv64, conv64, pool, dense512, dense10."""
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        L.Conv2D(32, 3, padding="same", activation="relu"),
        L.Conv2D(32, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Dropout(0.25),
        L.Conv2D(64, 3, padding="same", activation="relu"),
        L.Conv2D(64, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Dropout(0.25),
        L.Flatten(),
        L.Dense(512, activation="relu"),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ])


def vgg_head(base, pooling):
    """A VGG base at 224 with a Flatten or GlobalAveragePooling head and a 12-class dense."""
    def build():
        b = base(weights=None, include_top=False, input_shape=(224, 224, 3))
        x = L.Flatten()(b.output) if pooling == "flatten" else L.GlobalAveragePooling2D()(b.output)
        return keras.Model(b.input, L.Dense(12, activation="softmax")(x))
    return build


def app(ctor, **kw):
    return lambda: ctor(weights=None, **kw)


# name -> (builder, input H, W, C)
MODELS = {
    "keras_mnist_cnn": (course_mnist, 28, 28, 1),
    "keras_cifar_cnn": (course_cifar, 32, 32, 3),
    "mobilenet": (app(A.MobileNet), 224, 224, 3),
    "mobilenet_v2": (app(A.MobileNetV2), 224, 224, 3),
    "mobilenet_v3_small": (app(A.MobileNetV3Small, include_preprocessing=False), 224, 224, 3),
    "mobilenet_v3_large": (app(A.MobileNetV3Large, include_preprocessing=False), 224, 224, 3),
    "resnet50": (app(A.ResNet50), 224, 224, 3),
    "resnet50_v2": (app(A.ResNet50V2), 224, 224, 3),
    "densenet121": (app(A.DenseNet121), 224, 224, 3),
    "efficientnet_b0": (app(A.EfficientNetB0), 224, 224, 3),
    "efficientnet_v2_b0": (app(A.EfficientNetV2B0, include_preprocessing=False), 224, 224, 3),
    "nasnet_mobile": (app(A.NASNetMobile), 224, 224, 3),
    "xception": (app(A.Xception), 299, 299, 3),
    "inception_v3": (app(A.InceptionV3), 299, 299, 3),
    "vgg16_flatten": (vgg_head(A.VGG16, "flatten"), 224, 224, 3),
    "vgg16_gap": (vgg_head(A.VGG16, "gap"), 224, 224, 3),
    "vgg19_flatten": (vgg_head(A.VGG19, "flatten"), 224, 224, 3),
    "vgg19_gap": (vgg_head(A.VGG19, "gap"), 224, 224, 3),
}


def export(name, out_dir):
    build, h, w, c = MODELS[name]
    path = os.path.join(out_dir, name + ".onnx")
    if os.path.exists(path):
        return "kept"
    keras.utils.set_random_seed(0)
    model = build()
    spec = (tf.TensorSpec((1, h, w, c), tf.float32, name="input"),)
    fn = tf.function(lambda x: model(x, training=False))
    tmp = path + ".tmp"
    tf2onnx.convert.from_function(fn, input_signature=spec, opset=17, output_path=tmp)
    os.replace(tmp, path)
    return "exported"


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    names = sys.argv[2:] or list(MODELS)
    failed = 0
    for name in names:
        try:
            print(f"{name}: {export(name, out_dir)}", flush=True)
        except Exception as e:  # one model's failure must not hide the others
            failed += 1
            print(f"{name}: export failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
