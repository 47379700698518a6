"""One module per API resource; each exposes plain ``async def handler(request)`` functions."""
