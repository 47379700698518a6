"""Darknet (.cfg + .weights) -> ONNX converter written with ``onnx`` + numpy only (no torch).

Supports what YOLOv3-tiny needs: ``[net]``, ``[convolutional]`` (batch_normalize, leaky/linear),
``[maxpool]`` (including the size=2 stride=1 layer with Darknet's bottom/right padding),
``[route]``, ``[upsample]`` and ``[yolo]``. Anything else is a ``ConversionError``, so a new cfg
never converts into a silently different network.

Each ``[yolo]`` layer is decoded in the graph and its output matches what
``cv2.dnn.readNetFromDarknet(...).forward(name)`` returns for that layer: a 2-D tensor with one
row per (cell row, cell column, anchor) in that order, each row
``[cx, cy, w, h, objectness, objectness * sigmoid(class_0), ...]`` with the box as fractions of
the network input. Unlike OpenCV there is no hidden ``thresh`` floor (OpenCV zeroes class scores
<= 0.2 unless the cfg sets ``thresh``): thresholds belong to post-processing, where they are a
documented knob.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13  # modest on purpose: ONNX Runtime, OpenCV DNN and TensorRT 10 all load it
IR_VERSION = 8  # the IR that shipped with opset 13
LEAKY_SLOPE = 0.1  # Darknet's "leaky" activation
# Batch-norm epsilon as OpenCV's Darknet importer uses it (var + eps under the root); Darknet's
# own forks disagree (sqrt(var) + 1e-6 on CPU, sqrt(var + 1e-5) on GPU), the effect is < 1e-6.
BN_EPS = 1e-6
INPUT_NAME = "images"
CONVERTER_ID = "argus.engines.darknet_onnx/1"


class ConversionError(ValueError):
    """The cfg/weights pair cannot be converted faithfully."""


@dataclass
class Section:
    """One ``[kind]`` block of a Darknet cfg with its raw ``key = value`` options."""

    kind: str
    options: dict[str, str] = field(default_factory=dict)

    def get_int(self, key: str, default: int) -> int:
        return int(self.options.get(key, default))

    def get_float(self, key: str, default: float) -> float:
        return float(self.options.get(key, default))

    def get_ints(self, key: str) -> list[int]:
        return [int(v) for v in self.options[key].split(",") if v.strip()]

    def get_floats(self, key: str) -> list[float]:
        return [float(v) for v in self.options[key].split(",") if v.strip()]


@dataclass(frozen=True)
class WeightsHeader:
    major: int
    minor: int
    revision: int
    seen: int


@dataclass(frozen=True)
class _Tensor:
    """A graph value plus the shape the next layer needs to size its weights."""

    name: str
    channels: int
    height: int
    width: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_cfg(text: str) -> list[Section]:
    """Parse cfg text into sections; ``#``/``;`` comments and blank lines are ignored."""
    sections: list[Section] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append(Section(line.strip("[]").strip().lower()))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise ConversionError(f"cfg line outside a section or without '=': {raw!r}")
    if not sections or sections[0].kind not in ("net", "network"):
        raise ConversionError("cfg must start with a [net] section")
    return sections


def read_weights(path: Path) -> tuple[WeightsHeader, np.ndarray]:
    """Read a .weights file: 3 int32 version fields, ``seen`` (int64 from v0.2 on), float32s."""
    data = Path(path).read_bytes()
    major, minor, revision = (int(v) for v in np.frombuffer(data, np.int32, 3))
    if major > 1000 or minor > 1000:
        raise ConversionError("transposed Darknet weights are not supported")
    if major * 10 + minor >= 2:
        seen, offset = int(np.frombuffer(data, np.int64, 1, 12)[0]), 20
    else:
        seen, offset = int(np.frombuffer(data, np.int32, 1, 12)[0]), 16
    if (len(data) - offset) % 4:
        raise ConversionError(f"{path}: weight payload is not a whole number of float32s")
    return WeightsHeader(major, minor, revision, seen), np.frombuffer(data, np.float32, offset=offset)


class _Weights:
    """Sequential reader over the flat float array; Darknet stores layers back to back."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.offset = 0

    def take(self, count: int) -> np.ndarray:
        if self.offset + count > len(self.values):
            raise ConversionError("weights file is shorter than the cfg needs (wrong cfg?)")
        chunk = self.values[self.offset : self.offset + count]
        self.offset += count
        return chunk.astype(np.float32)


class _Graph:
    """Accumulates nodes and initializers with unique, readable names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output


def _fold_batch_norm(section: Section, weights: _Weights, in_ch: int) -> tuple[np.ndarray, np.ndarray]:
    """Return conv (kernel, bias) with batch-norm folded in, read in Darknet's storage order."""
    filters, size = section.get_int("filters", 1), section.get_int("size", 1)
    bias = weights.take(filters)
    if section.get_int("batch_normalize", 0):
        scale, mean, var = weights.take(filters), weights.take(filters), weights.take(filters)
        kernel = weights.take(filters * in_ch * size * size).reshape(filters, in_ch, size, size)
        factor = scale / np.sqrt(var + BN_EPS)
        return kernel * factor[:, None, None, None], bias - mean * factor
    kernel = weights.take(filters * in_ch * size * size).reshape(filters, in_ch, size, size)
    return kernel, bias


def _conv(g: _Graph, idx: int, section: Section, x: _Tensor, weights: _Weights) -> _Tensor:
    if section.get_int("groups", 1) != 1 or section.get_int("dilation", 1) != 1:
        raise ConversionError(f"layer {idx}: grouped/dilated convolution is not supported")
    activation = section.options.get("activation", "logistic")
    if activation not in ("leaky", "linear"):
        raise ConversionError(f"layer {idx}: activation {activation!r} is not supported")
    size, stride = section.get_int("size", 1), section.get_int("stride", 1)
    pad = section.get_int("padding", size // 2 if section.get_int("pad", 0) else 0)
    kernel, bias = _fold_batch_norm(section, weights, x.channels)
    w = g.const(f"conv_{idx}.weight", kernel)
    b = g.const(f"conv_{idx}.bias", bias)
    out = g.op(
        "Conv",
        [x.name, w, b],
        f"conv_{idx}",
        kernel_shape=[size, size],
        strides=[stride, stride],
        pads=[pad, pad, pad, pad],
    )
    if activation == "leaky":
        out = g.op("LeakyRelu", [out], f"leaky_{idx}", alpha=LEAKY_SLOPE)
    height = (x.height + 2 * pad - size) // stride + 1
    width = (x.width + 2 * pad - size) // stride + 1
    return _Tensor(out, kernel.shape[0], height, width)


def _maxpool(g: _Graph, idx: int, section: Section, x: _Tensor) -> _Tensor:
    """Darknet pads ``size - 1`` cells, the odd one at the bottom/right, like TF 'SAME'."""
    size = section.get_int("size", section.get_int("stride", 1))
    stride = section.get_int("stride", 1)
    padding = section.get_int("padding", size - 1)
    begin, end = padding // 2, padding - padding // 2
    out = g.op(
        "MaxPool",
        [x.name],
        f"pool_{idx}",
        kernel_shape=[size, size],
        strides=[stride, stride],
        pads=[begin, begin, end, end],
    )
    height = (x.height + padding - size) // stride + 1
    width = (x.width + padding - size) // stride + 1
    return _Tensor(out, x.channels, height, width)


def _route(g: _Graph, idx: int, section: Section, layers: list[_Tensor]) -> _Tensor:
    sources = [layers[i if i >= 0 else idx + i] for i in section.get_ints("layers")]
    if section.get_int("groups", 1) != 1:
        raise ConversionError(f"layer {idx}: grouped route is not supported")
    if len(sources) == 1:
        return sources[0]
    if len({(s.height, s.width) for s in sources}) != 1:
        raise ConversionError(f"layer {idx}: route inputs have different spatial sizes")
    out = g.op("Concat", [s.name for s in sources], f"concat_{idx}", axis=1)
    return _Tensor(out, sum(s.channels for s in sources), sources[0].height, sources[0].width)


def _upsample(g: _Graph, idx: int, section: Section, x: _Tensor) -> _Tensor:
    stride = section.get_int("stride", 2)
    scales = g.const(f"upsample_{idx}.scales", np.array([1, 1, stride, stride], np.float32))
    out = g.op(
        "Resize",
        [x.name, "", scales],
        f"upsample_{idx}",
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return _Tensor(out, x.channels, x.height * stride, x.width * stride)


def _slice_cols(g: _Graph, x: str, name: str, start: int, end: int) -> str:
    starts = g.const(f"{name}.starts", np.array([start], np.int64))
    ends = g.const(f"{name}.ends", np.array([end], np.int64))
    axes = g.const(f"{name}.axes", np.array([1], np.int64))
    return g.op("Slice", [x, starts, ends, axes], name)


def _yolo_constants(section: Section, x: _Tensor, size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Per-row cell offsets, grid size and anchor sizes (as input fractions), OpenCV row order."""
    anchors = np.array(section.get_floats("anchors"), np.float32).reshape(-1, 2)
    mask = section.get_ints("mask") if "mask" in section.options else list(range(len(anchors)))
    rows, cols, count = x.height, x.width, len(mask)
    ys, xs, _ = np.meshgrid(np.arange(rows), np.arange(cols), np.arange(count), indexing="ij")
    cells = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
    grid = np.array([[cols, rows]], np.float32)
    net_w, net_h = size
    used = anchors[mask] / np.array([net_w, net_h], np.float32)
    anchor_rows = np.tile(used, (rows * cols, 1)).astype(np.float32)
    return cells, grid, anchor_rows


def _yolo(g: _Graph, idx: int, section: Section, x: _Tensor, size: tuple[int, int]) -> tuple[str, int]:
    """Decode one yolo layer into OpenCV's row layout (see the module docstring)."""
    if section.get_float("scale_x_y", 1.0) != 1.0 or section.get_int("new_coords", 0):
        raise ConversionError(f"layer {idx}: scale_x_y/new_coords (YOLOv4) is not supported")
    cells, grid, anchor_rows = _yolo_constants(section, x, size)
    classes, count = section.get_int("classes", 80), len(anchor_rows) // (x.height * x.width)
    if x.channels != count * (5 + classes):
        raise ConversionError(f"layer {idx}: {x.channels} channels != {count} x (5 + {classes})")
    p = f"yolo_{idx}"
    shape4 = g.const(f"{p}.shape4", np.array([count, 5 + classes, x.height, x.width], np.int64))
    shape2 = g.const(f"{p}.shape2", np.array([-1, 5 + classes], np.int64))
    t = g.op("Reshape", [x.name, shape4], f"{p}.split_anchors")
    t = g.op("Transpose", [t], f"{p}.cells_last", perm=[2, 3, 0, 1])
    t = g.op("Reshape", [t, shape2], f"{p}.rows")
    txy = g.op("Sigmoid", [_slice_cols(g, t, f"{p}.txy", 0, 2)], f"{p}.sxy")
    xy = g.op("Add", [txy, g.const(f"{p}.cells", cells)], f"{p}.xy_cells")
    xy = g.op("Div", [xy, g.const(f"{p}.grid", grid)], f"{p}.xy")
    wh = g.op("Exp", [_slice_cols(g, t, f"{p}.twh", 2, 4)], f"{p}.ewh")
    wh = g.op("Mul", [wh, g.const(f"{p}.anchors", anchor_rows)], f"{p}.wh")
    obj = g.op("Sigmoid", [_slice_cols(g, t, f"{p}.tobj", 4, 5)], f"{p}.obj")
    cls = g.op("Sigmoid", [_slice_cols(g, t, f"{p}.tcls", 5, 5 + classes)], f"{p}.cls_prob")
    cls = g.op("Mul", [cls, obj], f"{p}.scores")
    return g.op("Concat", [xy, wh, obj, cls], p, axis=1), len(anchor_rows)


def build_graph(
    sections: list[Section], values: np.ndarray, width: int, height: int
) -> tuple[_Graph, list[tuple[str, int]]]:
    """Walk the layers; returns the graph and (output name, row count) per yolo layer."""
    g, weights = _Graph(), _Weights(values)
    channels = sections[0].get_int("channels", 3)
    x = _Tensor(INPUT_NAME, channels, height, width)
    layers: list[_Tensor] = []
    outputs: list[tuple[str, int]] = []
    for idx, section in enumerate(sections[1:]):
        if section.kind == "convolutional":
            x = _conv(g, idx, section, x, weights)
        elif section.kind == "maxpool":
            x = _maxpool(g, idx, section, x)
        elif section.kind == "route":
            x = _route(g, idx, section, layers)
        elif section.kind == "upsample":
            x = _upsample(g, idx, section, x)
        elif section.kind == "yolo":
            outputs.append(_yolo(g, idx, section, x, (width, height)))
        else:
            raise ConversionError(f"layer {idx}: [{section.kind}] is not supported")
        layers.append(x)
    if weights.offset != len(values):
        raise ConversionError(f"{len(values) - weights.offset} weights left over (wrong cfg?)")
    return g, outputs


def convert_darknet(
    cfg_path: Path,
    weights_path: Path,
    out_path: Path,
    width: int = 416,
    height: int = 416,
    extra_metadata: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """Convert and save; ``width``/``height`` fix the graph's input size (multiples of 32).

    ``extra_metadata`` lands in the model's metadata props next to the source hashes, e.g.
    the cfg correction that provisioning applied.
    """
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise ConversionError(f"input size {width}x{height} must be positive multiples of 32")
    sections = parse_cfg(Path(cfg_path).read_text())
    header, values = read_weights(Path(weights_path))
    g, outputs = build_graph(sections, values, width, height)
    classes = sections[-1].get_int("classes", 80) if sections[-1].kind == "yolo" else 80
    channels = sections[0].get_int("channels", 3)
    graph = helper.make_graph(
        g.nodes,
        "darknet_yolo",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, channels, height, width])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [rows, 5 + classes]) for n, rows in outputs],
        g.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=CONVERTER_ID
    )
    model.ir_version = IR_VERSION
    metadata = {
        "source_cfg_sha256": sha256_file(Path(cfg_path)),
        "source_weights_sha256": sha256_file(Path(weights_path)),
        "weights_header": f"{header.major}.{header.minor}.{header.revision} seen={header.seen}",
        "input_shape": f"1,{channels},{height},{width}",
        "input_format": "RGB float32 NCHW scaled to 0..1 (blobFromImage 1/255, swapRB)",
        "output_layout": "rows per (cell_y, cell_x, anchor): cx,cy,w,h (input fractions), "
        "objectness, objectness*class_prob x classes; no score floor",
        "mask_correction": "none",
        **(extra_metadata or {}),
    }
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return model
