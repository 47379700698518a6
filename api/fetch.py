"""Requests on a client's behalf (image and video URLs, callbacks) under a network policy.

The server must not become a way to reach its own internals or cloud metadata. The policy is
checked on the addresses a host name resolves to, inside the connector's resolver, so the
connection goes only to vetted addresses (no DNS-rebinding gap between check and connect).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from api.config import FetchConfig

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(Exception):
    """The download was refused or failed; the message says why."""


@dataclass(frozen=True)
class NetworkPolicy:
    denied: tuple[Network, ...]
    allowed: tuple[Network, ...]

    @classmethod
    def from_config(cls, config: FetchConfig) -> NetworkPolicy:
        return cls(
            tuple(ipaddress.ip_network(n) for n in config.denied_networks),
            tuple(ipaddress.ip_network(n) for n in config.allowed_networks),
        )

    def permits(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allowed):
            return True
        return not any(ip in net for net in self.denied)


class PolicyResolver(AbstractResolver):
    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        allowed = [r for r in results if self.policy.permits(r["host"])]
        if not allowed:
            raise FetchError(f"host '{host}' resolves only to addresses this server may not reach")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


def _policy_for(url: str, config: FetchConfig, verb: str) -> NetworkPolicy:
    """The policy, after refusing non-http(s) schemes and denied IP literals up front."""
    if not url.lower().startswith(("http://", "https://")):
        raise FetchError(f"only http and https URLs can be {verb}")
    policy = NetworkPolicy.from_config(config)
    host = yarl.URL(url).host or ""
    if _is_ip(host) and not policy.permits(host):  # aiohttp does not resolve IP literals
        raise FetchError(f"address '{host}' is one this server may not reach")
    return policy


@contextlib.asynccontextmanager
async def _request(
    method: str, url: str, config: FetchConfig, timeout: float, verb: str, **kwargs: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request through the policy resolver; transport failures become ``FetchError``."""
    connector = aiohttp.TCPConnector(resolver=PolicyResolver(_policy_for(url, config, verb)))
    try:
        async with (
            aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as session,
            session.request(method, url, allow_redirects=False, **kwargs) as resp,
        ):
            yield resp
    except FetchError:
        raise
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        cause: Any = exc.__cause__ if isinstance(exc.__cause__, FetchError) else exc
        raise FetchError(str(cause) or type(exc).__name__) from None


async def download(url: str, config: FetchConfig, max_bytes: int) -> tuple[bytes, str]:
    """(body, content type) of an http(s) URL permitted by the policy, at most ``max_bytes``."""
    async with _request("GET", url, config, config.timeout, "downloaded") as resp:
        if resp.status != 200:
            raise FetchError(f"the server answered {resp.status}")
        chunks, size = [], 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"the download exceeds {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks), resp.content_type


async def download_to_file(
    url: str, config: FetchConfig, target: Path, max_bytes: int, timeout: float
) -> int:
    """Stream an http(s) URL the policy permits into ``target`` (videos are too big for memory).

    Returns the size written; on any failure the partial file is removed.
    """
    size = 0
    try:
        async with _request("GET", url, config, timeout, "downloaded") as resp:
            if resp.status != 200:
                raise FetchError(f"the server answered {resp.status}")
            with target.open("wb") as out:
                async for chunk in resp.content.iter_chunked(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"the download exceeds {max_bytes} bytes")
                    await asyncio.to_thread(out.write, chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def post(url: str, data: bytes, headers: dict[str, str], config: FetchConfig, timeout: float) -> int:
    """POST to an http(s) URL the policy permits (callbacks); returns the status code."""
    async with _request("POST", url, config, timeout, "called", data=data, headers=headers) as resp:
        return resp.status
