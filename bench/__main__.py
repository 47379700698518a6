"""`make bench`: run every benchmark (or those named) and rewrite their sections of RESULTS.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import (
    event_ingest,
    events_query,
    faces,
    http_stack,
    human_tracking,
    matching,
    people_count,
    person_detector,
    person_detector_configs,
    streams,
    tracker,
)

BENCHMARKS = {
    "http_stack": lambda args: http_stack.run(),
    "person_detector": lambda args: person_detector.run(args.data_dir),
    "faces": lambda args: faces.run(args.data_dir),
    "matching": lambda args: matching.run(),
    "events_query": lambda args: events_query.run(),
    "event_ingest": lambda args: event_ingest.run(args.data_dir),
    "person_detector_configs": lambda args: person_detector_configs.run(Path(args.data_dir), write=True),
    "people_count": lambda args: people_count.run(args.data_dir),
    "tracker": lambda args: tracker.run(args.data_dir),
    "human_tracking": lambda args: human_tracking.run(args.data_dir),
    "streams": lambda args: streams.run(args.data_dir),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--data-dir", default="./data")
    parser.add_argument(
        "names", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default: all)"
    )
    args = parser.parse_args()
    for name in args.names or BENCHMARKS:
        print(BENCHMARKS[name](args))


if __name__ == "__main__":
    main()
