"""Tracking test sequences with exact ground truth, made of real vtest.avi pixels.

A scene is the empty square of vtest.avi (temporal median of ``BACKGROUND_FRAMES`` frames, so
walkers vanish) with real people cut out of hand-labelled vtest.avi frames (``CROPS``, the
isolated people of ``tests/data/vtest_people.json``) pasted along known paths: straight or
gently curved, 20-80 px/s, entering and leaving the frame. Every scene has one walker who
passes behind a pillar in the foreground (fully hidden for 0.5-1.5 s) and two pairs who cross
each other (the nearer one, lower in the image, hides part of the other). Others walk in from
an edge at random times and may pass the pillar too (hidden at most ``MAX_HIDDEN`` seconds).

Cut-outs use a soft mask (difference from the median background, closed, blurred) so no
rectangle of old background travels with a person. Ground truth is the box of each person's
*visible* pixels with the visible fraction of their mask (``TruthBox.visibility``); people
hidden entirely are absent. Frames render lazily (``Scene.frames``) so a scene costs its
truth, not 160 MB of pixels. Everything is deterministic in ``seed``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, overload

import cv2
import numpy as np

from engines.vtest import read_frames

BACKGROUND_FRAMES = 50
VTEST_FRAMES = 795
# Isolated people (no other box within 6 px, >= 65 px tall, not behind the information sign)
# copied from tests/data/vtest_people.json: (decoded frame index, xyxy).
CROPS: tuple[tuple[int, tuple[int, int, int, int]], ...] = (
    (100, (589, 152, 618, 243)), (165, (316, 172, 350, 241)), (231, (45, 180, 68, 248)),
    (231, (287, 159, 317, 241)), (231, (504, 270, 538, 380)), (231, (669, 220, 705, 296)),
    (231, (721, 288, 760, 400)), (300, (188, 160, 214, 237)), (300, (583, 161, 610, 232)),
    (300, (620, 163, 643, 237)), (363, (361, 175, 391, 247)), (363, (555, 196, 591, 286)),
    (429, (688, 275, 722, 372)), (500, (308, 188, 333, 266)), (500, (617, 273, 641, 373)),
    (561, (379, 151, 405, 242)), (561, (587, 160, 615, 233)), (561, (645, 309, 671, 407)),
    (627, (358, 404, 405, 560)), (627, (431, 167, 454, 243)), (700, (102, 288, 143, 394)),
    (700, (186, 168, 212, 242)), (700, (280, 213, 310, 296)), (700, (367, 176, 396, 254)),
    (700, (520, 172, 544, 241)), (700, (683, 219, 728, 307)), (760, (312, 177, 345, 255)),
    (760, (652, 206, 684, 303)), (792, (432, 272, 469, 384)), (792, (655, 145, 674, 212)),
)  # fmt: skip
PILLAR_WIDTH = 100  # px; wider than anyone pasted, so a walker behind it is hidden entirely
MAX_HIDDEN = 1.6  # s: the longest any walker may stay behind the pillar
NOISE_FIELDS = 8  # per-scene bank of sensor-noise fields, cycled over frames
NOISE_LEVEL = 3  # +-px of uniform noise so consecutive frames are not identical


class TruthBox(NamedTuple):
    """One visible person in one frame: id, box of the visible pixels, visible mask fraction."""

    person_id: int
    xyxy: tuple[float, float, float, float]
    visibility: float


@dataclass(frozen=True)
class Sprite:
    """A cut-out person: BGR float32 pixels and a soft alpha mask of the same size."""

    image: np.ndarray
    alpha: np.ndarray


@functools.cache
def _vtest() -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """One decoding pass: the median background and the frames people are cut from."""
    indices = np.linspace(0, VTEST_FRAMES - 1, BACKGROUND_FRAMES).round().astype(int)
    frames = read_frames(set(indices.tolist()) | {frame for frame, _ in CROPS})
    empty = np.median(np.stack([frames[i] for i in indices]), axis=0).astype(np.uint8)
    return empty, {frame: frames[frame] for frame, _ in CROPS}


def background() -> np.ndarray:
    """Temporal median of frames spread over vtest.avi (768x576 BGR): the square, empty."""
    return _vtest()[0]


def cut_out(frame: np.ndarray, box: tuple[int, int, int, int], empty: np.ndarray) -> Sprite:
    """The person inside ``box``: pixels differing from ``empty``, as a soft mask."""
    x1, y1, x2, y2 = box
    crop = frame[y1:y2, x1:x2].astype(np.int16)
    diff = np.abs(crop - empty[y1:y2, x1:x2].astype(np.int16)).max(axis=2)
    mask = (diff > 28).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 1.0)
    return Sprite(crop.astype(np.float32), alpha)


@functools.cache
def sprites() -> tuple[Sprite, ...]:
    """Every ``CROPS`` person cut out against the median background."""
    empty, frames = _vtest()
    return tuple(cut_out(frames[frame], box, empty) for frame, box in CROPS)


def scaled(sprite: Sprite, height: float) -> Sprite:
    """The sprite resized to ``height`` px (aspect kept), as it is pasted along one path."""
    h, w = sprite.alpha.shape
    size = (max(1, round(w * height / h)), max(1, round(height)))
    image = cv2.resize(sprite.image, size, interpolation=cv2.INTER_LINEAR)
    alpha = np.clip(cv2.resize(sprite.alpha, size, interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return Sprite(image, alpha)


def pillar(size: tuple[int, int], x1: int, x2: int) -> np.ndarray:
    """A full-height concrete pillar from x1 to x2: road texture, shaded like a cylinder."""
    texture = background()[330:576, 600:690].astype(np.float32)
    texture = cv2.resize(texture, (x2 - x1, size[1]), interpolation=cv2.INTER_LINEAR)
    u = np.linspace(-1.0, 1.0, x2 - x1, dtype=np.float32)
    shade = 0.55 + 0.6 * np.sqrt(np.clip(1.0 - u**2, 0.0, 1.0))
    return np.clip(texture * shade[None, :, None], 0, 255)


def _region(
    top_left: tuple[int, int], shape: tuple[int, int], size: tuple[int, int]
) -> tuple[slice, slice, slice, slice] | None:
    """Frame and sprite slices of a sprite placed at ``top_left``; None when out of frame."""
    x, y = top_left
    h, w = shape
    fx1, fy1, fx2, fy2 = max(x, 0), max(y, 0), min(x + w, size[0]), min(y + h, size[1])
    if fx1 >= fx2 or fy1 >= fy2:
        return None
    return slice(fy1, fy2), slice(fx1, fx2), slice(fy1 - y, fy2 - y), slice(fx1 - x, fx2 - x)


@dataclass(frozen=True)
class Walker:
    """One person's path: foot point ``origin + v d + bend d^2 / 2`` at ``d = t - t0`` seconds."""

    person_id: int
    sprite: int  # index into CROPS
    height: float  # pasted height, px
    start_time: float  # not in the scene before (walkers from an edge start off-screen)
    t0: float
    origin: tuple[float, float]
    velocity: tuple[float, float]  # px/s
    bend: tuple[float, float]  # px/s^2, across the direction of walking: a gentle curve

    def foot(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = t - self.t0
        bob = 1.5 * np.sin(2 * np.pi * 1.8 * t + self.person_id)  # gait: head and feet go up and down
        return (
            self.origin[0] + self.velocity[0] * d + self.bend[0] * d * d / 2,
            self.origin[1] + self.velocity[1] * d + self.bend[1] * d * d / 2 + bob,
        )


class _Planner:
    """Draws walkers by role, rejecting paths that break the scene's rules (see the module doc)."""

    def __init__(self, rng: np.random.Generator, duration: float, fps: float, size: tuple[int, int]) -> None:
        self.rng, self.size, self.duration, self.step = rng, size, duration, 1.0 / fps
        self.times = np.arange(0.0, duration, self.step)
        center = rng.uniform(0.35, 0.65) * size[0]
        self.pillar_x = (round(center - PILLAR_WIDTH / 2), round(center + PILLAR_WIDTH / 2))
        self.looks = rng.permutation(len(CROPS)).tolist()
        self.walkers: list[Walker] = []

    def walker(
        self, pid: int, t0: float, origin: tuple[float, float], speed: float, angle: float, start: float
    ) -> Walker:
        velocity = (speed * np.cos(angle), speed * np.sin(angle))
        turn = speed * self.rng.uniform(-0.07, 0.07)  # heading turns by up to 4 degrees a second
        bend = (-np.sin(angle) * turn, np.cos(angle) * turn)
        return Walker(pid, self.looks[pid - 1], self.rng.uniform(85, 140), start, t0, origin, velocity, bend)

    def seconds(self, walker: Walker) -> tuple[float, float, float]:
        """Seconds on screen before the pillar, hidden behind it, on screen after (0 if never hidden)."""
        shape = sprites()[walker.sprite].alpha.shape
        half_w = walker.height * shape[1] / shape[0] / 2
        x, y = walker.foot(self.times)
        screen = (self.times >= walker.start_time) & (x + half_w > 0) & (x - half_w < self.size[0])
        screen &= (y > 0) & (y - walker.height < self.size[1])
        hidden = screen & (x - half_w >= self.pillar_x[0]) & (x + half_w <= self.pillar_x[1])
        seen = np.flatnonzero(screen & ~hidden)
        first = np.flatnonzero(hidden)[0] if hidden.any() else len(self.times)
        before, after = np.sum(seen < first), np.sum(seen > first)
        return before * self.step, hidden.sum() * self.step, after * self.step

    def add(self, draw: Callable[[int], list[Walker]], accept: Callable[[float, float, float], bool]) -> None:
        """Draw a group of walkers (ids from the next free one) until every one is acceptable."""
        for _ in range(1000):
            group = draw(len(self.walkers) + 1)
            if all(accept(*self.seconds(walker)) for walker in group):
                self.walkers += group
                return
        raise RuntimeError("no walker path fits the scene: make it longer (>= 6 s) or larger")

    def passer_by(self) -> None:
        """Walks behind the pillar: 1.5 s seen, 0.5-1.5 s hidden, 1.5 s seen again."""
        h, r = self.size[1], self.rng
        center = sum(self.pillar_x) / 2

        def draw(pid: int) -> list[Walker]:
            y = r.uniform(0.55, 0.95) * h
            angle = r.choice([0.0, np.pi]) + r.uniform(-0.15, 0.15)
            t0 = r.uniform(0.3, 0.6) * self.duration
            return [self.walker(pid, t0, (center, y), r.uniform(40, 70), angle, 0.0)]

        self.add(draw, lambda before, hidden, after: before >= 1.5 and 0.5 <= hidden <= 1.5 and after >= 1.5)

    def crossing(self) -> None:
        """Two people meeting at one point and moment, from roughly opposite directions."""
        w, h, r = self.size[0], self.size[1], self.rng

        def draw(pid: int) -> list[Walker]:
            while True:
                cx = r.uniform(0.08, 0.92) * w
                if abs(cx - sum(self.pillar_x) / 2) > 170:
                    break
            cy, dy = r.uniform(0.5, 0.92) * h, r.uniform(5, 15)
            tc = r.uniform(0.25, 0.75) * self.duration
            angle = r.choice([0.0, np.pi]) + r.uniform(-0.45, 0.45)
            first = self.walker(pid, tc, (cx, cy + dy), r.uniform(25, 75), angle, 0.0)
            other = angle + np.pi + r.uniform(-0.7, 0.7)
            return [first, self.walker(pid + 1, tc, (cx, cy - dy), r.uniform(25, 75), other, 0.0)]

        self.add(draw, _fair)

    def from_edge(self) -> None:
        """Someone walking in from the left, right or bottom edge at a random time."""
        w, h, r = self.size[0], self.size[1], self.rng

        def draw(pid: int) -> list[Walker]:
            start = r.uniform(0.0, 0.6) * self.duration
            edge = int(r.integers(3))
            if edge == 0:
                origin, angle = (-50.0, r.uniform(0.45, 0.95) * h), 0.0
            elif edge == 1:
                origin, angle = (w + 50.0, r.uniform(0.45, 0.95) * h), np.pi
            else:  # bottom: feet a full body height below the frame, walking away
                origin, angle = (r.uniform(0.1, 0.9) * w, h + 150.0), -np.pi / 2
            angle += r.uniform(-0.6, 0.6)
            return [self.walker(pid, start, origin, r.uniform(20, 80), angle, start)]

        self.add(draw, lambda before, hidden, after: before + after >= 2.0 and _fair(before, hidden, after))


def _fair(before: float, hidden: float, after: float) -> bool:
    """Hidden never, or briefly enough to be re-found (and then seen again)."""
    return hidden == 0 or (0.4 <= hidden <= MAX_HIDDEN and after >= 1.0)


class SceneFrames(Sequence[np.ndarray]):
    """Lazy BGR frames: people back to front (by foot y), then the pillar, then sensor noise."""

    def __init__(self, seed: int, fps: float, size: tuple[int, int], n: int, planner: _Planner) -> None:
        self.fps, self.size, self.n = fps, size, n
        self.walkers = tuple(planner.walkers)
        self.looks = tuple(scaled(sprites()[w.sprite], w.height) for w in self.walkers)
        self.pillar_x = planner.pillar_x
        self.pillar = pillar(size, *self.pillar_x)
        self.empty = cv2.resize(background(), size).astype(np.float32)
        rng = np.random.default_rng([seed, 1])
        self.noise = rng.integers(-NOISE_LEVEL, NOISE_LEVEL + 1, (NOISE_FIELDS, size[1], size[0], 3), np.int8)

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...
    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(index, slice):
            return [self.render(i) for i in range(*index.indices(self.n))]
        if not -self.n <= index < self.n:
            raise IndexError(index)
        return self.render(index % self.n)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.render(i) for i in range(self.n))

    def placed(self, index: int) -> list[tuple[int, tuple[slice, slice, slice, slice]]]:
        """(walker, frame and sprite slices) of the walkers on screen in a frame, back to front."""
        t = index / self.fps
        order = []
        for i, (walker, look) in enumerate(zip(self.walkers, self.looks, strict=True)):
            if t < walker.start_time:
                continue
            fx, fy = walker.foot(np.array(t))
            h, w = look.alpha.shape
            region = _region((round(float(fx) - w / 2), round(float(fy) - h)), (h, w), self.size)
            if region is not None:
                order.append((float(fy), i, region))
        return [(i, region) for _, i, region in sorted(order, key=lambda item: item[:2])]

    def render(self, index: int) -> np.ndarray:
        image = self.empty.copy()
        for i, (fy, fx, sy, sx) in self.placed(index):
            alpha = self.looks[i].alpha[sy, sx, None]
            image[fy, fx] += (self.looks[i].image[sy, sx] - image[fy, fx]) * alpha
        image[:, self.pillar_x[0] : self.pillar_x[1]] = self.pillar
        image += self.noise[index % NOISE_FIELDS]
        return np.clip(image, 0, 255).astype(np.uint8)

    def truth(self, index: int) -> list[TruthBox]:
        """Visible box and fraction of each person, front to back over what is already covered."""
        cover = np.zeros((self.size[1], self.size[0]), np.float32)
        cover[:, self.pillar_x[0] : self.pillar_x[1]] = 1.0
        boxes = []
        for i, (fy, fx, sy, sx) in reversed(self.placed(index)):
            alpha = self.looks[i].alpha[sy, sx]
            visible = alpha * (1 - cover[fy, fx])
            cover[fy, fx] = 1 - (1 - cover[fy, fx]) * (1 - alpha)
            ys, xs = np.nonzero(visible > 0.5)
            if len(xs):
                x0, y0 = fx.start, fy.start
                box = (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1)
                fraction = float(visible.sum() / self.looks[i].alpha.sum())
                boxes.append(TruthBox(self.walkers[i].person_id, tuple(map(float, box)), fraction))
        return sorted(boxes)


@dataclass(frozen=True)
class Scene:
    """Frames (rendered on access) and per-frame truth of one synthetic sequence."""

    seed: int
    fps: float
    truth: list[list[TruthBox]]
    frames: SceneFrames

    @property
    def walkers(self) -> tuple[Walker, ...]:
        return self.frames.walkers

    @property
    def times(self) -> list[float]:
        return [i / self.fps for i in range(len(self.truth))]


def make_scene(
    seed: int, n_people: int = 8, n_frames: int = 120, fps: float = 10.0, size: tuple[int, int] = (768, 576)
) -> Scene:
    """One deterministic scene: a pillar, one walker hidden behind it, two crossings, others."""
    if not 5 <= n_people <= len(CROPS):
        raise ValueError(f"n_people must be in [5, {len(CROPS)}], got {n_people}")
    planner = _Planner(np.random.default_rng(seed), n_frames / fps, fps, size)
    planner.passer_by()
    planner.crossing()
    planner.crossing()
    for _ in range(n_people - 5):
        planner.from_edge()
    frames = SceneFrames(seed, fps, size, n_frames, planner)
    return Scene(seed, fps, [frames.truth(i) for i in range(n_frames)], frames)
