"""Fallback load generator when `wrk` is missing: N aiohttp connections for T seconds."""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp


async def _worker(session: aiohttp.ClientSession, url: str, deadline: float) -> int:
    done = 0
    while time.perf_counter() < deadline:
        async with session.get(url) as resp:
            await resp.read()
        done += 1
    return done


async def main(url: str, seconds: float, connections: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        started = time.perf_counter()
        counts = await asyncio.gather(*(_worker(session, url, started + seconds) for _ in range(connections)))
        return sum(counts) / (time.perf_counter() - started)


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))))
