"""ONNX export of the acoustic model, so transcription can run on onnxruntime without TensorFlow.

The graph is written from the trained weights op by op rather than traced: every layer of the
model has an exact standard ONNX counterpart, and ONNX's own ``GRU`` (with ``sequence_lens``
and ``linear_before_reset``, which is Keras's ``reset_after``) runs as one fused kernel instead
of a traced while-loop. Batch norm is folded into the convolution.

Graph: ``features [B, T, F]`` float32 and ``lengths [B]`` int32 in, ``log_probs [B, T', V]``
out, with ``T' = ceil(T / stride)``; batch and time axes are dynamic.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np

from ctcasr.bundle import (
    ONNX_FILE,
    Bundle,
    load_bundle,
    refuse_bundled_models,
    resolve_bundle_path,
)
from ctcasr.errors import BundleError
from ctcasr.utils import atomic_path, first_line, folder_lock

OPSET = 17


def onnx_graph(bundle: Bundle):  # -> onnx.ModelProto
    """The bundle's acoustic model as an ONNX model (TensorFlow loads to read the weights)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = bundle.model_config
    layers = {layer.name: layer for layer in bundle.keras_model().layers}
    init: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray | np.generic) -> str:
        init.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    # Conv1D (no bias) + batch norm (inference statistics), folded: W' = W * s, b' = beta - m s.
    (kernel,) = layers["conv"].get_weights()  # [k, F, C]
    gamma, beta, mean, var = layers["conv_bn"].get_weights()
    scale = gamma / np.sqrt(var + layers["conv_bn"].epsilon)
    weight = (kernel * scale).transpose(2, 1, 0).astype(np.float32)  # [C, F, k]
    bias = (beta - mean * scale).astype(np.float32)
    k, stride = cfg.conv_kernel, cfg.conv_stride
    x = node("Transpose", ["features"], "features_nct", perm=[0, 2, 1])
    x = node("Conv", [x, const("conv_w", weight), const("conv_b", bias)], "conv",
             kernel_shape=[k], strides=[stride], pads=[k // 2, (k - 1) // 2])  # fmt: skip
    x = node("Clip", [x, const("zero", np.float32(0)), const("twenty", np.float32(20))], "relu")
    x = node("Transpose", [x], "relu_tbc", perm=[2, 0, 1])  # time-major for the GRUs

    # Frames after the strided convolution: ceil(length / stride).
    s = const("stride", np.int32(stride))
    n = node("Add", ["lengths", const("stride_m1", np.int32(stride - 1))], "len_plus")
    out_len = node("Div", [n, s], "out_lengths")

    units = cfg.rnn_units
    for i in range(1, cfg.rnn_layers + 1):
        bi = layers[f"bigru_{i}"]
        w, r, b = [], [], []
        for cell in (bi.forward_layer.cell, bi.backward_layer.cell):
            kern, rec, bias2 = (v.numpy() for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
            w.append(kern.T)  # Keras gate order z, r, h is ONNX's too
            r.append(rec.T)
            b.append(np.concatenate([bias2[0], bias2[1]]))  # input bias, recurrent bias
        y = node(
            "GRU",
            [x, const(f"gru{i}_w", np.stack(w).astype(np.float32)),
             const(f"gru{i}_r", np.stack(r).astype(np.float32)),
             const(f"gru{i}_b", np.stack(b).astype(np.float32)), out_len],
            f"gru{i}_y", hidden_size=units, direction="bidirectional", linear_before_reset=1,
        )  # fmt: skip
        # Y is [T, 2, B, H]; concatenate the directions: [T, B, 2H] (forward first, as Keras).
        y = node("Transpose", [y], f"gru{i}_tbdh", perm=[0, 2, 1, 3])
        x = node("Reshape", [y, const(f"gru{i}_shape", np.array([0, 0, 2 * units]))],
                 f"gru{i}_out")  # fmt: skip

    dense_w, dense_b = layers["logits"].get_weights()
    x = node("MatMul", [x, const("logits_w", dense_w.astype(np.float32))], "logits_mm")
    x = node("Add", [x, const("logits_b", dense_b.astype(np.float32))], "logits")
    x = node("LogSoftmax", [x], "log_probs_tbv", axis=-1)
    node("Transpose", [x], "log_probs", perm=[1, 0, 2])

    graph = helper.make_graph(
        nodes,
        "ctcasr",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                       ["batch", "time", cfg.num_features]),
         helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"])],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT,
                                       ["batch", "frames", cfg.num_classes])],
        initializer=init,
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ctcasr"
    )
    model.ir_version = 8  # readable by every onnxruntime since 1.14
    # The architecture it was exported from, so a graph dropped into another bundle is caught
    # at load (it ran as that bundle's model, silently wrong).
    props = {GRAPH_CONFIG_KEY: json.dumps(cfg.to_dict(), sort_keys=True)}
    if bundle.weights_path.is_file():  # the weights it was exported from (see weights_digest)
        props[WEIGHTS_DIGEST_KEY] = weights_digest(bundle.weights_path)
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


GRAPH_CONFIG_KEY = "ctcasr.model"
WEIGHTS_DIGEST_KEY = "ctcasr.weights_sha256"


def weights_digest(path: Path) -> str:
    """SHA-256 of a Keras weights file: a graph records the one it was exported from, so a
    graph left beside weights that changed later (copied in, retrained) is caught at load
    rather than run silently in their place. Content, not mtime: a copied bundle still fits."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load_onnx_weights(keras_model, onnx_path: Path, model_config) -> None:
    """Give a freshly built Keras model the weights of an exported graph.

    This is what lets a bundle ship only ``model.onnx`` and still be fine-tuned or re-exported.
    The folded batch norm comes back as an identity norm whose offset is the folded bias, so
    the rebuilt model computes what the graph computes.
    """
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(onnx_path)).graph
    except Exception as exc:  # protobuf's decode errors are not one type
        raise BundleError(f"{onnx_path}: cannot read ONNX model ({exc})") from None
    w = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    try:
        layers = {layer.name: layer for layer in keras_model.layers}
        layers["conv"].set_weights([w["conv_w"].transpose(2, 1, 0)])
        bn = layers["conv_bn"]
        channels = w["conv_b"].shape[0]
        one = np.ones(channels, np.float32)
        bn.set_weights([one, w["conv_b"], np.zeros(channels, np.float32), one - bn.epsilon])
        for i in range(1, model_config.rnn_layers + 1):
            bi = layers[f"bigru_{i}"]
            for d, cell in enumerate((bi.forward_layer.cell, bi.backward_layer.cell)):
                cell.kernel.assign(w[f"gru{i}_w"][d].T)
                cell.recurrent_kernel.assign(w[f"gru{i}_r"][d].T)
                cell.bias.assign(w[f"gru{i}_b"][d].reshape(2, -1))
        layers["logits"].set_weights([w["logits_w"], w["logits_b"]])
    except (KeyError, ValueError) as exc:
        raise BundleError(
            f"{onnx_path}: graph does not fit the bundle's model ({first_line(exc)})"
        ) from None
    if f"gru{model_config.rnn_layers + 1}_w" in w:  # a deeper graph: its extra layers unused
        raise BundleError(f"{onnx_path}: graph has more GRU layers than the bundle's model "
                          f"({model_config.rnn_layers})")  # fmt: skip


def export_onnx(
    bundle: str | os.PathLike[str] | Bundle | None,
    output: str | os.PathLike[str] | None = None,
    drop_keras: bool = False,
) -> Path:
    """Write ``model.onnx`` into the bundle (or to ``output``) atomically and return its path.

    ``drop_keras`` then deletes the bundle's Keras weights, halving its size, but only after
    the written graph has been checked against the Keras model: nothing is lost on failure.
    """
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise BundleError("exporting needs the onnx package: pip install onnx") from None
    folder = bundle.path if isinstance(bundle, Bundle) else resolve_bundle_path(bundle)
    # before the lock, which is a file in the folder
    refuse_bundled_models(Path(output) if output is not None else folder / ONNX_FILE)
    # into the bundle: one writer at a time (a missing folder is load_bundle's to name, not
    # the lock's to make)
    if output is None and folder.is_dir():
        # A second --drop-keras read the weights the first had just deleted and failed
        # with "No such file" (or h5py's own error), though the first succeeded.
        with folder_lock(folder, functools.partial(_busy_message, folder)):
            return _export(bundle, output, drop_keras)
    return _export(bundle, output, drop_keras)


def _busy_message(folder: Path, pid: int | None) -> str:
    holder = f" (pid {pid})" if pid is not None else ""
    return f"{folder}: another export{holder} is writing to this bundle; wait for it to end"


def _export(bundle: str | os.PathLike[str] | Bundle | None, output: str | os.PathLike[str] | None,
            drop_keras: bool) -> Path:
    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    if drop_keras and output is not None:
        raise BundleError("--drop-keras (drop_keras=True) needs the graph written into the "
                          "bundle, not to -o (output=)")
    path = Path(output) if output is not None else b.path / ONNX_FILE
    if path.is_dir():
        raise BundleError(f"{path}: is a folder; --output (output=) names the .onnx file to write")
    if path.is_file() and path.suffix != ".onnx":
        # A user's file, or the bundle's own config, was overwritten with the graph.
        raise BundleError(f"{path}: exists and is not an .onnx file; not replaced")
    if path.suffix != ".onnx":  # `-o newdir/` wrote a file called newdir
        raise BundleError(f"{output}: --output (output=) names the .onnx file to write (NAME.onnx)")
    data = onnx_graph(b).SerializeToString()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    if drop_keras and b.weights_path.is_file():
        diff = check_export(b, path)
        if diff > PARITY_TOLERANCE:
            raise BundleError(f"{path}: differs from the Keras model by {diff:.2g}; kept both")
        b.weights_path.unlink()
    return path


PARITY_TOLERANCE = 1e-4


def check_export(bundle: Bundle, onnx_path: Path, seed: int = 0) -> float:
    """Largest log-probability difference between Keras and the graph on a padded batch of
    random feature matrices (two lengths, so masking is exercised)."""
    from ctcasr.runtime import KerasRunner, OnnxRunner

    rng = np.random.default_rng(seed)
    dim = bundle.model_config.num_features
    feats = [rng.standard_normal((n, dim)).astype(np.float32) for n in (173, 96)]
    keras_out = KerasRunner(bundle.keras_model(), bundle.model_config)(feats)
    onnx_out = OnnxRunner(onnx_path, bundle.model_config)(feats)
    return max(float(np.abs(k - o).max()) for k, o in zip(keras_out, onnx_out, strict=True))
