"""Pure video-analytics computation: detections, geometry, trackers, analytic state machines.

Nothing here does I/O, starts threads or reads clocks; time is always an argument.
"""
