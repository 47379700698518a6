"""dlib's face-recognition ResNet v1 (``.dat``) -> ONNX, written with ``onnx`` + numpy only.

dlib serialises a network as nested objects. The loss layer comes first (version 1,
``"loss_metric_2"``, margin, distance threshold); then the version number of every layer from
the top down (2 for a layer with parameters or an op, 1 for a ``tag``/``skip``, 3 for the layer
that sits on the input); then the input layer (``"input_rgb_image_sized"``: per-channel means,
rows, cols) and every layer's details from the bottom up, each followed by its training state
(three ``'0'``/``'1'`` flags and empty gradient tensors). Integers are packed (a size byte, bit 7
= negative, then little-endian bytes), floats are (integer mantissa, integer exponent) and
tensors are (version 2, n, k, nr, nc, raw little-endian float32).

The architecture is the one of dlib's ``dnn_face_recognition_ex.cpp``: a 7x7/2 conv stem + 3x3/2
max pool, 14 residual blocks (conv-affine-relu-conv-affine, identity skip, or a 2x2/2 average
pooled skip in the four down-sampling blocks), a global average pool and a 128-unit fc without
bias. The converter matches the layer sequence read from the file against that template and
checks the version prefix against it too, so a different network is a ``ConversionError``,
never a silently different graph. Two dlib behaviours are reproduced exactly:

* input normalisation (``input_rgb_image_sized::to_tensor``): ``(pixel - mean_c) / 256`` on RGB,
  with the means read from the file (122.782, 117.001, 104.298);
* ``add_prev`` with unequal shapes adds the overlap and keeps the larger size, as if the smaller
  tensor were zero-padded at the end (channels 64->128 etc., and spatially at the 8x8 -> 4x4
  level where the strided conv gives 3x3 but the pooled skip 4x4): done here with ``Pad``.

``affine`` layers (dlib's inference form of batch norm) are folded into the preceding conv.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engines.darknet_onnx import ConversionError, sha256_file

CONVERTER_ID = "argus.engines.face.dlib_resnet_onnx/1"
SOURCE_NAME = "dlib_face_recognition_resnet_model_v1.dat"
ONNX_NAME = "dlib_face_recognition_resnet_model_v1.onnx"
OPSET = 13  # same as the Darknet converter: ONNX Runtime, OpenCV DNN and TensorRT 10 load it
IR_VERSION = 8
INPUT_NAME = "chips"  # float32 (1, 3, 150, 150): RGB pixel values 0..255, normalised in-graph
OUTPUT_NAME = "descriptors"  # float32 (1, 128)


@dataclass
class Layer:
    """One dlib layer's details: its serialised type name and the values that matter here."""

    kind: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class DlibNet:
    """What the ``.dat`` file holds, in bottom-up order."""

    means_rgb: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: list[Layer]
    version_prefix: list[int]
    loss: dict[str, float]


class _Reader:
    """Reads dlib's serialisation primitives from a byte buffer, failing loudly at the offset."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise ConversionError(f"dlib file truncated at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def int(self) -> int:
        head = self._take(1)[0]
        size = head & 0x7F
        if size > 8:
            raise ConversionError(f"bad packed integer size {size} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if head & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if abs(exponent) > 1100:  # dlib's inf/nan markers use out-of-range exponents
            raise ConversionError(f"non-finite float at byte {self.pos}")
        return float(mantissa) * 2.0**exponent

    def string(self) -> str:
        size = self.int()
        if not 0 <= size <= 256:  # layer names are short; anything else is not a layer name
            raise ConversionError(f"implausible string length {size} at byte {self.pos}")
        raw = self._take(size)
        if not raw.isascii():
            raise ConversionError(f"expected an ASCII layer name at byte {self.pos - size}")
        return raw.decode("ascii")

    def flag(self) -> bool:
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise ConversionError(f"expected a '0'/'1' flag at byte {self.pos - 1}, got {char!r}")
        return char == b"1"

    def tensor(self) -> np.ndarray:
        if (version := self.int()) != 2:
            raise ConversionError(f"tensor version {version} at byte {self.pos} (expected 2)")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        if (version := self.int()) != 1:
            raise ConversionError(f"alias_tensor version {version} at byte {self.pos}")
        return (self.int(), self.int(), self.int(), self.int())


def _read_con(r: _Reader) -> dict[str, Any]:
    params = r.tensor().ravel()
    filters, kh, kw, sy, sx, py, px = (r.int() for _ in range(7))
    w_shape, b_shape = r.alias(), r.alias()
    [r.float() for _ in range(4)]  # learning-rate / weight-decay multipliers: training only
    in_ch = w_shape[1]
    if w_shape != (filters, in_ch, kh, kw) or b_shape != (1, filters, 1, 1):
        raise ConversionError(f"con_ shapes {w_shape} / {b_shape} disagree with {filters} filters")
    if params.size != filters * in_ch * kh * kw + filters:
        raise ConversionError(f"con_ holds {params.size} values, expected {filters * (in_ch * kh * kw + 1)}")
    weights = params[: filters * in_ch * kh * kw].reshape(w_shape)
    return {"w": weights, "b": params[weights.size :], "stride": (sy, sx), "pad": (py, px)}


def _read_affine(r: _Reader) -> dict[str, Any]:
    params = r.tensor().ravel()
    g_shape, b_shape = r.alias(), r.alias()
    mode = r.int()
    channels = g_shape[1]
    if mode != 0 or g_shape != (1, channels, 1, 1) or b_shape != g_shape or params.size != 2 * channels:
        raise ConversionError(f"affine_ is not per-channel (mode {mode}, gamma {g_shape})")
    return {"gamma": params[:channels], "beta": params[channels:]}


def _read_pool(r: _Reader) -> dict[str, Any]:
    kh, kw, sy, sx, py, px = (r.int() for _ in range(6))
    return {"kernel": (kh, kw), "stride": (sy, sx), "pad": (py, px)}


def _read_fc(r: _Reader) -> dict[str, Any]:
    outputs, inputs = r.int(), r.int()
    params = r.tensor().ravel()
    w_shape, _bias_shape = r.alias(), r.alias()
    bias_mode = r.int()
    [r.float() for _ in range(4)]
    if bias_mode != 1 or w_shape[:2] != (inputs, outputs) or params.size != inputs * outputs:
        raise ConversionError(f"fc_ is not a bias-free {inputs}x{outputs} layer (mode {bias_mode})")
    return {"w": params.reshape(inputs, outputs)}


_DETAILS: dict[str, Callable[[_Reader], dict[str, Any]]] = {
    "con_4": _read_con,
    "affine_": _read_affine,
    "relu_": lambda r: {},
    "add_prev_": lambda r: {},
    "max_pool_2": _read_pool,
    "avg_pool_2": _read_pool,
    "fc_2": _read_fc,
}


def _read_training_state(r: _Reader, input_level: bool) -> None:
    """Skip what ``add_layer`` stores after its details: flags and (empty) gradient tensors."""
    for _ in range(3):
        r.flag()
    for _ in range(3):
        r.tensor()
    if input_level:
        r.int()  # sample expansion factor


def parse_dlib_resnet(path: str | Path) -> DlibNet:
    """Parse the ``.dat`` into layers; raises ``ConversionError`` on anything unexpected."""
    r = _Reader(Path(path).read_bytes())
    if r.int() != 1 or (kind := r.string()) != "loss_metric_2":
        raise ConversionError(f"{path} is not a dlib loss_metric network")
    loss = {"margin": r.float(), "distance_threshold": r.float()}
    prefix: list[int] = []
    while (version := r.int()) != 3:
        if version not in (1, 2) or len(prefix) > 10_000:
            raise ConversionError(f"unexpected layer version {version} at byte {r.pos}")
        prefix.append(version)
    if (kind := r.string()) != "input_rgb_image_sized":
        raise ConversionError(f"input layer is {kind!r}, expected input_rgb_image_sized")
    means = (r.float(), r.float(), r.float())
    size = (r.int(), r.int())
    layers = []
    for index in range(prefix.count(2) + 1):
        kind = r.string()
        if kind not in _DETAILS:
            raise ConversionError(f"unsupported dlib layer {kind!r} at byte {r.pos}")
        layers.append(Layer(kind, _DETAILS[kind](r)))
        _read_training_state(r, input_level=index == 0)
    if r.pos != len(r.data):
        raise ConversionError(f"{len(r.data) - r.pos} trailing bytes after the last layer")
    return DlibNet(means, size, layers, prefix, loss)


class _Graph:
    """Accumulates ONNX nodes and initialisers under unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, value: np.ndarray, hint: str) -> str:
        self.count += 1
        name = f"{hint}_{self.count}"
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: object) -> str:
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


@dataclass
class _Value:
    name: str
    shape: tuple[int, int, int]  # (C, H, W)


def _conv_affine(g: _Graph, x: _Value, con: Layer, affine: Layer) -> _Value:
    """A dlib ``con`` followed by ``affine``, folded into one Conv (computed in float64)."""
    w, b = con.values["w"], con.values["b"]
    gamma = np.asarray(affine.values["gamma"], np.float64)
    beta = np.asarray(affine.values["beta"], np.float64)
    if w.shape[1] != x.shape[0] or gamma.size != w.shape[0]:
        raise ConversionError(f"conv {w.shape} does not fit input {x.shape}")
    w_fold = (w.astype(np.float64) * gamma[:, None, None, None]).astype(np.float32)
    b_fold = (np.asarray(b, np.float64) * gamma + beta).astype(np.float32)
    (kh, kw), (sy, sx), (py, px) = w.shape[2:], con.values["stride"], con.values["pad"]
    out = g.op(
        "Conv",
        [x.name, g.const(w_fold, "w"), g.const(b_fold, "b")],
        kernel_shape=[kh, kw],
        strides=[sy, sx],
        pads=[py, px, py, px],
    )
    h = (x.shape[1] + 2 * py - kh) // sy + 1
    wd = (x.shape[2] + 2 * px - kw) // sx + 1
    return _Value(out, (w.shape[0], h, wd))


def _pool(g: _Graph, x: _Value, layer: Layer) -> _Value:
    (kh, kw), (sy, sx), (py, px) = (layer.values[k] for k in ("kernel", "stride", "pad"))
    if (kh, kw) == (0, 0):  # dlib's avg_pool_everything
        if layer.kind != "avg_pool_2":
            raise ConversionError("global pooling is only supported for avg_pool")
        return _Value(g.op("GlobalAveragePool", [x.name]), (x.shape[0], 1, 1))
    if (py, px) != (0, 0):
        raise ConversionError(f"{layer.kind} with padding {(py, px)} is not supported")
    op_type = "MaxPool" if layer.kind == "max_pool_2" else "AveragePool"
    out = g.op(op_type, [x.name], kernel_shape=[kh, kw], strides=[sy, sx])
    return _Value(out, (x.shape[0], (x.shape[1] - kh) // sy + 1, (x.shape[2] - kw) // sx + 1))


def _pad_to(g: _Graph, x: _Value, shape: tuple[int, int, int]) -> str:
    extra = [t - s for t, s in zip(shape, x.shape, strict=True)]
    if not any(extra):
        return x.name
    pads = np.array([0, 0, 0, 0, 0, *extra], np.int64)  # zeros after the end of each axis
    return g.op("Pad", [x.name, g.const(pads, "pads")], mode="constant")


def _add_prev(g: _Graph, a: _Value, b: _Value) -> _Value:
    """dlib ``add_prev``: the larger of each dimension, missing elements counting as zero."""
    shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape, strict=True))
    return _Value(g.op("Add", [_pad_to(g, a, shape), _pad_to(g, b, shape)]), shape)


class _Layers:
    """The parsed layers as a queue that checks each next layer is the one the template wants."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        self.pos = 0
        self.codes: list[int] = []  # bottom-up version codes this walk implies (tags = 1)

    def peek(self) -> str:
        return self.layers[self.pos].kind if self.pos < len(self.layers) else ""

    def take(self, kind: str) -> Layer:
        if self.peek() != kind:
            raise ConversionError(f"layer #{self.pos} is {self.peek()!r}, the template expects {kind!r}")
        self.pos += 1
        self.codes.append(2)
        return self.layers[self.pos - 1]


def _residual(g: _Graph, q: _Layers, x: _Value) -> _Value:
    """relu(add_prev(block(x), x or avg_pool(x))) as in dlib's ``ares`` / ``ares_down``."""
    q.codes.append(1)  # tag1 on the block input
    y = _conv_affine(g, x, q.take("con_4"), q.take("affine_"))
    y = _Value(g.op("Relu", [y.name]), y.shape)
    q.take("relu_")
    y = _conv_affine(g, y, q.take("con_4"), q.take("affine_"))
    skip = x
    if q.peek() == "avg_pool_2":
        q.codes.extend([1, 1])  # tag2 on the block output, skip1 back to tag1
        skip = _pool(g, x, q.take("avg_pool_2"))
    q.take("add_prev_")
    out = _add_prev(g, y, skip)
    q.take("relu_")
    return _Value(g.op("Relu", [out.name]), out.shape)


def build_graph(net: DlibNet) -> onnx.GraphProto:
    """The ONNX graph for ``net``, checked layer by layer against dlib's face ResNet template."""
    g = _Graph()
    rows, cols = net.input_size
    means = np.array(net.means_rgb, np.float32).reshape(1, 3, 1, 1)
    centred = g.op("Sub", [INPUT_NAME, g.const(means, "means")])
    x = _Value(g.op("Mul", [centred, g.const(np.array(1 / 256, np.float32), "scale")]), (3, rows, cols))
    q = _Layers(net.layers)
    x = _conv_affine(g, x, q.take("con_4"), q.take("affine_"))
    q.codes[0] = 3  # the stem conv is the add_layer that sits on the input layer
    q.take("relu_")
    x = _pool(g, _Value(g.op("Relu", [x.name]), x.shape), q.take("max_pool_2"))
    blocks = 0
    while q.peek() == "con_4":
        x, blocks = _residual(g, q, x), blocks + 1
    x = _pool(g, x, q.take("avg_pool_2"))
    weights = q.take("fc_2").values["w"]
    if q.pos != len(net.layers) or x.shape != (weights.shape[0], 1, 1):
        raise ConversionError(f"network tail does not match (at layer {q.pos}, features {x.shape})")
    flat = g.op("Flatten", [x.name], axis=1)
    g.nodes.append(helper.make_node("MatMul", [flat, g.const(weights, "fc")], [OUTPUT_NAME]))
    if list(reversed(q.codes[1:])) != net.version_prefix:
        raise ConversionError("tag/skip layout in the file differs from the ResNet template")
    return helper.make_graph(
        g.nodes,
        f"dlib_resnet_{blocks}_blocks",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, 3, rows, cols])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, weights.shape[1]])],
        g.inits,
    )


def convert_dlib_resnet(source: str | Path, target: str | Path) -> dict[str, str]:
    """Convert ``source`` (.dat) to ``target`` (.onnx); returns the metadata written into it."""
    net = parse_dlib_resnet(source)
    model = helper.make_model(
        build_graph(net), opset_imports=[helper.make_opsetid("", OPSET)], producer_name=CONVERTER_ID
    )
    model.ir_version = IR_VERSION
    metadata = {
        "converter": CONVERTER_ID,
        "source_file": Path(source).name,
        "source_sha256": sha256_file(Path(source)),
        "input": "RGB pixel values 0..255, NCHW float32; (x - mean) / 256 is in the graph",
        "dlib_distance_threshold": repr(net.loss["distance_threshold"]),
    }
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return metadata
