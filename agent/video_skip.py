"""Frames nobody wants are not decoded: disposable packets are dropped before the decoder.

At rate period 10 nine frames in ten are decoded only to be thrown away, and decoding is then
most of the pipeline's cost. A picture that no other picture references (an H.264 picture
with ``nal_ref_idc`` 0, an HEVC sub-layer non-reference picture in a single-layer stream:
most B-frames of ordinary encodes) can be left out of the decoder without changing a single
pixel of any other frame. FFmpeg's ``skip_frame`` does the same inside the decoder, but then
nobody can tell a skipped frame from one the (frame-threaded, reordering) decoder still holds,
and frame indices, ``frames_count`` and ``processed_parts`` must stay exact. So the packet is
inspected here (NAL headers only), and a dropped frame is counted by its pts once the decoder
has output the frames displayed before it.

Whether the frame a packet will become is wanted is asked of the analytics (``wants``: a peek
at their rate samplers with no side effect) with the display index and time offset predicted
from the pts at the video's frame rate. Every decoded frame checks that prediction; the first
miss (a variable frame rate, odd timestamps) turns skipping off for the rest of the video, so a
file that defeats the prediction loses only the saving.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from fractions import Fraction

import av

from agent.video_clock import Clock

H264_SLICES = (1, 5)  # coded slice (non-IDR), IDR slice
H264_PARAMETER_SETS = (7, 8)  # SPS, PPS: a packet carrying one is never dropped
HEVC_SUBLAYER_NON_REFERENCE = frozenset({0, 2, 4, 6, 8, 10, 12, 14})  # TRAIL_N, TSA_N, ... RSV_VCL_N14
HEVC_VCL_END = 32  # NAL types 0-31 are coded slices

Disposable = Callable[[memoryview], bool]


def _length_prefixed(data: memoryview, size: int) -> list[memoryview] | None:
    """NAL units of an AVCC/HVCC packet (big-endian length prefixes), None if malformed."""
    units, i, end = [], 0, len(data)
    while i < end:
        if i + size > end:
            return None
        length = int.from_bytes(data[i : i + size], "big")
        i += size
        if length == 0 or i + length > end:
            return None
        units.append(data[i : i + length])
        i += length
    return units


def _annex_b(data: memoryview) -> list[memoryview]:
    """NAL units of an Annex B packet (``00 00 01`` start codes), as RTSP and MPEG-TS carry them."""
    raw = data.tobytes()
    units, start = [], raw.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        start = raw.find(b"\x00\x00\x01", begin)
        stop = len(raw) if start < 0 else start
        if stop > begin:
            units.append(data[begin:stop])
    return units


def _h264_disposable(units: list[memoryview] | None) -> bool:
    """Every slice is a non-reference slice, and no parameter set rides along."""
    if not units:
        return False
    slices = 0
    for unit in units:
        header = unit[0]
        kind = header & 0x1F
        if kind in H264_PARAMETER_SETS:
            return False
        if kind in H264_SLICES:
            if header & 0x60:  # nal_ref_idc != 0: some picture may reference this one
                return False
            slices += 1
    return slices > 0


def _hevc_disposable(units: list[memoryview] | None) -> bool:
    """Every slice is a sub-layer non-reference slice (callers ensure a single sub-layer)."""
    if not units:
        return False
    slices = 0
    for unit in units:
        if len(unit) < 2:
            return False
        kind = (unit[0] >> 1) & 0x3F
        if kind < HEVC_VCL_END:
            if kind not in HEVC_SUBLAYER_NON_REFERENCE:
                return False
            slices += 1
    return slices > 0


def disposable_check(codec: av.CodecContext) -> Disposable | None:
    """A packet test for this stream's bitstream format, None when it cannot be told safely."""
    extra = bytes(codec.extradata or b"")
    if codec.name == "h264":
        if extra[:1] == b"\x01" and len(extra) >= 5:  # avcC: MP4, Matroska
            size = (extra[4] & 0x03) + 1
            return lambda data: _h264_disposable(_length_prefixed(data, size))
        return lambda data: _h264_disposable(_annex_b(data))  # RTSP, MPEG-TS, raw, AVI
    if codec.name == "hevc" and extra[:1] == b"\x01" and len(extra) >= 23:  # hvcC
        # With more than one temporal sub-layer a sub-layer non-reference picture may still be
        # referenced by a higher sub-layer; an Annex B stream does not say up front.
        if (extra[21] >> 3) & 0x07 != 1:
            return None
        size = (extra[21] & 0x03) + 1
        return lambda data: _hevc_disposable(_length_prefixed(data, size))
    return None


class SkipPlan:
    """Drops disposable packets of unwanted frames and gives back their pts in display order."""

    def __init__(
        self,
        disposable: Disposable,
        wants: Callable[[int, float], bool],
        clock: Clock,
        frame_rate: float,
        time_base: Fraction | None,
        start_time: float,
    ) -> None:
        self.disposable = disposable
        self.wants = wants
        self.clock = clock
        rate = Fraction(frame_rate).limit_denominator(1001)
        # Frames per pts tick; None when the video does not say how fast it runs.
        self.frames_per_tick = Fraction(time_base) * rate if time_base and rate > 0 else None
        self.start_time = start_time
        self.active = self.frames_per_tick is not None
        self._anchor: tuple[int, int] | None = None  # (index, pts) of the first decoded frame
        self._last_index = -1
        self._pending: list[int] = []  # pts of packets demuxed and not yet displayed
        self._dropped: list[int] = []  # heap of the dropped frames' pts

    def drop(self, packet: av.Packet) -> bool:
        """True when the packet was taken out: nobody wants its frame and nothing references it."""
        if not self.active or packet.pts is None or packet.size == 0:
            return False
        self._pending.append(packet.pts)
        if packet.is_keyframe:
            return False
        index = self.predicted_index(packet.pts)
        if index is None or index <= self._last_index or not self._contiguous(index):
            return False
        offset = self.clock.predict(index, packet.pts)
        if offset is None or self.wants(index, offset + self.start_time):
            return False
        if not self.disposable(memoryview(packet)):
            return False
        heapq.heappush(self._dropped, packet.pts)
        return True

    def _contiguous(self, index: int) -> bool:
        """Every frame displayed between the last decoded one and this one has been demuxed.

        A prediction is only checked when its frame comes out of the decoder, which lags the
        demuxer by the reorder depth; a jump in the pts (a camera dropping frames) would
        mispredict everything after it before the check could notice. A hole in the predicted
        indices is that jump, seen in time: nothing is dropped across it.
        """
        seen = {self.predicted_index(pts) for pts in self._pending}
        return all(i in seen for i in range(self._last_index + 1, index))

    def predicted_index(self, pts: int) -> int | None:
        """The display index of the frame with this pts at a constant frame rate."""
        if self._anchor is None or self.frames_per_tick is None:
            return None
        anchor_index, anchor_pts = self._anchor
        exact = (pts - anchor_pts) * self.frames_per_tick
        index = round(exact)
        return anchor_index + index if abs(exact - index) < Fraction(1, 10) else None

    def before(self, pts: int | None) -> list[int]:
        """Pts of dropped frames displayed before a decoded frame with ``pts``, oldest first."""
        if pts is None:  # e.g. RTSP's first frame; no dropped frame can be ordered against it
            if not self._dropped:
                return []
            self.active = False  # stop dropping and count what was dropped now
            return self.rest()
        out = []
        while self._dropped and self._dropped[0] < pts:
            out.append(heapq.heappop(self._dropped))
        return out

    def decoded(self, index: int, pts: int | None) -> None:
        """Check the prediction against a decoded frame's real index; a miss ends skipping."""
        self._last_index = index
        if pts is None:
            return
        self._pending = [p for p in self._pending if p > pts]
        if self._anchor is None:
            self._anchor = (index, pts)
        elif self.predicted_index(pts) != index:
            self.active = False

    def rest(self) -> list[int]:
        """Pts of all dropped frames not yet counted (end of the video)."""
        out = sorted(self._dropped)
        self._dropped.clear()
        return out
