"""Static INT8 quantization of the person detector with ONNX Runtime (QDQ format).

On CPUs with VNNI (AVX512-VNNI / AVX-VNNI) ONNX Runtime runs the QDQ graph's convolutions as
int8 kernels, 2-2.5x faster than fp32. The recipe below was chosen by measurement on
vtest.avi (YOLOv3-tiny 416; 80 frames outside the calibration set compared with fp32, plus the
hand-labelled frames 100, 300, 500 and 700, now part of ``tests/data/vtest_people.json``):

* Weights QInt8 per output channel, activations QUInt8 per tensor.
* Calibration: ``Percentile`` 99.999, asymmetric. On 80 frames outside the calibration set it
  flipped the fewest candidate rows across the 0.1 score threshold (47; MinMax 64, symmetric
  percentile 69) at the same box error. ``Entropy`` through ``quantize_static`` silently equals
  MinMax in ONNX Runtime 1.32 (its 128 histogram bins = 128 quantized bins leave one candidate
  threshold); run with 2048 bins it doubled the score error, so it is not used.
* Kept in fp32 (``float_nodes``): the in-graph YOLO decode (sigmoid/exp/box arithmetic) and the
  two 1x1 detection-head convs that feed it. Quantized, they double the box error against fp32
  (0.73 px mean with the decode alone in fp32, 1.02 px with nothing excluded, 0.35 px with
  both kept) and make twice as many detections appear or vanish (34 vs 18 of 482); they are
  ~2% of the multiply-adds and keeping them in fp32 costs no measurable speed.

Calibration data ships with Argus (``engines/data/calibration``, see its README): twelve
vtest.avi frames, so provisioning works on a machine without Debian's opencv-doc.
``python -m engines.quantize write-calibration-frames`` regenerates them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import helper

from engines.darknet_onnx import sha256_file
from engines.yolo import preprocess

QUANTIZER_ID = "argus.engines.quantize/1"  # bump when the recipe changes: provisioning rebuilds
CALIBRATION_DIR = Path(__file__).parent / "data" / "calibration"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
# Twelve frames 66 apart (0..726) span the 795-frame video and stay >= 26 frames away from the
# hand-labelled evaluation frames (tests/data/vtest_people.json), so calibration never sees them.
CALIBRATION_FRAMES = tuple(66 * k for k in range(12))
# Full 768x576 frames keep calibration on the run-time pre-processing path for any input size;
# quality 55 keeps the twelve under 600 KB (mean abs pixel error ~3, below the video's own
# MPEG-4 artefacts; calibrating on the JPEGs or on the decoded frames measured the same).
CALIBRATION_JPEG_QUALITY = 55
CALIBRATION_METHOD = "Percentile"
# Share of each activation's values that must fit its uint8 range: lowering it clips more
# outliers for finer steps (99.995 measured worse), raising it approaches MinMax.
CALIBRATION_PERCENTILE = 99.999
DECODE_PREFIX = "yolo_"  # engines.darknet_onnx names every node of a [yolo] decode yolo_<layer>...

log = logging.getLogger(__name__)


class QuantizationError(RuntimeError):
    """The model or the calibration data cannot be quantized as the recipe expects."""


def calibration_files(directory: Path = CALIBRATION_DIR) -> list[Path]:
    files = sorted(directory.glob("*.jpg"))
    if not files:
        raise QuantizationError(f"no calibration frames (*.jpg) in {directory}")
    return files


def calibration_sha256(directory: Path = CALIBRATION_DIR) -> str:
    """One hash over the calibration frames' names and contents (recorded, and checked on reuse)."""
    digest = hashlib.sha256()
    for path in calibration_files(directory):
        digest.update(f"{path.name}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def float_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes the recipe keeps in fp32: the YOLO decode and the convs that feed it."""
    decode = [n for n in model.graph.node if n.name.startswith(DECODE_PREFIX)]
    if not decode:
        raise QuantizationError(f"no {DECODE_PREFIX}* decode nodes: not a graph from engines.darknet_onnx")
    producers = {out: node for node in model.graph.node for out in node.output}
    heads = {
        producers[name].name
        for node in decode
        for name in node.input
        if name in producers and producers[name].op_type == "Conv"
    }
    return sorted(heads) + [n.name for n in decode]


class _BlobReader:
    """Feeds ``quantize_static`` the frames exactly as ``YoloPersonDetector`` pre-processes them."""

    def __init__(self, input_name: str, frames: Sequence[np.ndarray], size: tuple[int, int]) -> None:
        self._blobs: Iterator[np.ndarray] = (preprocess(f, size)[0] for f in frames)
        self._input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self._blobs, None)
        return None if blob is None else {self._input_name: blob}


class _DropPreProcessHint(logging.Filter):
    """ONNX Runtime warns on the root logger unless ``quant_pre_process`` ran first; on these
    graphs it changes nothing (same 64 nodes: batch norm is already folded by the converter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-process" not in record.getMessage()


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Route the quantizer's progress prints to our debug log and drop its pre-process hint.

    Swapping ``sys.stdout`` is process-wide; fine here because quantizing is provisioning work
    (CLI, test set-up), never done while an agent's streams run.
    """
    hint, printed = _DropPreProcessHint(), io.StringIO()
    logging.getLogger().addFilter(hint)
    try:
        with contextlib.redirect_stdout(printed):
            yield
    finally:
        logging.getLogger().removeFilter(hint)
        log.debug("onnxruntime.quantization: %s", printed.getvalue().strip())


def _read_frames(files: Sequence[Path]) -> list[np.ndarray]:
    frames = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files]
    unreadable = [p.name for p, f in zip(files, frames, strict=True) if f is None]
    if unreadable:
        raise QuantizationError(f"cannot read calibration frames {unreadable}")
    return frames  # type: ignore[return-value]


def quantize_yolo(fp32_path: Path, out_path: Path, calibration_dir: Path = CALIBRATION_DIR) -> dict[str, str]:
    """Write the INT8 QDQ model of ``fp32_path`` to ``out_path``; returns the metadata it added."""
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(fp32_path))
    (graph_input,) = model.graph.input
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    size = (int(dims[3]), int(dims[2]))
    files = calibration_files(calibration_dir)
    keep_float = float_nodes(model)
    with _quiet_quantizer():
        quantize_static(
            str(fp32_path),
            str(out_path),
            _BlobReader(graph_input.name, _read_frames(files), size),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep_float,
            calibrate_method=CalibrationMethod[CALIBRATION_METHOD],
            extra_options={"CalibPercentile": CALIBRATION_PERCENTILE, "CalibTensorRangeSymmetric": False},
        )
    added = {
        "quantizer": QUANTIZER_ID,
        "quantization": "static QDQ: weights QInt8 per channel, activations QUInt8 per tensor",
        "calibration_method": f"{CALIBRATION_METHOD} {CALIBRATION_PERCENTILE}, asymmetric",
        "calibration_frames": f"{len(files)} JPEGs ({', '.join(p.name for p in files)}), "
        "pre-processed like YoloPersonDetector (blobFromImage 1/255, swapRB, plain resize)",
        "calibration_source": "vtest.avi (Debian opencv-doc) frames as JPEG quality "
        f"{CALIBRATION_JPEG_QUALITY}, see engines/data/calibration/README.md",
        "calibration_sha256": calibration_sha256(calibration_dir),
        "float_nodes": ",".join(keep_float),
        "source_onnx_sha256": sha256_file(fp32_path),
        "onnxruntime_version": onnxruntime.__version__,
    }
    quantized = onnx.load(str(out_path))
    props = {p.key: p.value for p in quantized.metadata_props}
    helper.set_model_props(quantized, {**props, **added})
    onnx.save(quantized, str(out_path))
    return added


def write_calibration_frames(
    video: Path = VTEST,
    out_dir: Path = CALIBRATION_DIR,
    indices: Sequence[int] = CALIBRATION_FRAMES,
    quality: int = CALIBRATION_JPEG_QUALITY,
) -> list[Path]:
    """Decode ``indices`` of ``video`` (PyAV, as the tests do) and write them as JPEGs."""
    import av

    if not video.is_file():
        raise QuantizationError(f"{video} is missing: install the Debian package opencv-doc")
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted, written = set(indices), []
    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                path = out_dir / f"vtest_{index:04d}.jpg"
                cv2.imwrite(str(path), frame.to_ndarray(format="bgr24"), params)
                written.append(path)
            if index >= max(wanted):
                break
    if len(written) != len(wanted):
        raise QuantizationError(f"{video} has fewer than {max(wanted) + 1} frames")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Person-detector INT8 calibration data")
    commands = parser.add_subparsers(dest="command", required=True)
    frames = commands.add_parser("write-calibration-frames", help=f"regenerate {CALIBRATION_DIR}")
    frames.add_argument("--video", type=Path, default=VTEST)
    frames.add_argument("--out-dir", type=Path, default=CALIBRATION_DIR)
    args = parser.parse_args(argv)
    written = write_calibration_frames(args.video, args.out_dir)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} frames, {total / 1024:.0f} KB, to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
