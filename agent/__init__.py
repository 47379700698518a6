"""Stream runtime: video sources, per-stream pipelines, the worker and the `argus` CLI."""
