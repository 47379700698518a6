"""Argus HTTP server: the LUNA PLATFORM 5 API v6 over aiohttp."""

__version__ = "0.1.0"
