#!/usr/bin/python3
"""Builds model.onnx: dxhub's deterministic reference "classifier".

It is not a trained network and has no clinical meaning. Its output is a known function of the
pixels, so tests can predict every label exactly:

    x     = preprocessed images, Nx1x64x64 (any batch size N), value = displayed brightness in [0, 1] (card: mean 0,
            std 1, so no normalisation)
    y     = 3x3 box filter of x (valid convolution: 62x62)
    m     = mean of y                                   (GlobalAveragePool)
    logit = 40 * (m - 0.5) for "high-risk", the negative for "normal"
    prob  = softmax(logits)

so an image is "high-risk" (prob >= 0.5) exactly when its mean displayed brightness, away from a
one-pixel border, exceeds one half. Opset 10, which OpenCV 4.6's dnn module reads.

Run: /usr/bin/python3 make_model.py [output path]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 64
GAIN = 40.0


def build():
    box = numpy_helper.from_array(np.full((1, 1, 3, 3), 1.0 / 9.0, dtype=np.float32), "box")
    # Gemm weights as [outputs, inputs] with transB=1: the layout OpenCV's importer expects.
    weights = numpy_helper.from_array(np.array([[-GAIN], [GAIN]], dtype=np.float32), "w")
    bias = numpy_helper.from_array(np.array([GAIN * 0.5, -GAIN * 0.5], dtype=np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["image", "box"], ["smoothed"], kernel_shape=[3, 3]),
        helper.make_node("GlobalAveragePool", ["smoothed"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["mean"], axis=1),
        helper.make_node("Gemm", ["mean", "w", "b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["prob"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "brightness_reference",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, SIZE, SIZE])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["batch", 2])],
        initializer=[box, weights, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10)],
                              producer_name="dxhub make_model.py")
    model.ir_version = 5  # what opset 10 tooling (and OpenCV 4.6) expects
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "model.onnx"
    onnx.save(build(), out)
