"""Event generation: handler policies applied to images or stream detections (CORE.md §4, §5).

``capabilities`` refuses policies Argus has no model for, ``filters`` evaluates the spec's
``emit_events_filters``, ``drafts`` turns inputs into per-event face data, ``outcome`` applies
matching and storage policies and builds the reply.
"""
