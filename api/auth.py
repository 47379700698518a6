"""Authentication (BasicAuth, BearerAuth/cookie, deprecated Luna-Account-Id) and token permissions.

Which schemes an operation accepts comes from the spec's catalogue. The auth middleware
authenticates once per request and stores a :class:`Principal`; handlers only ask it for the
account filter to apply and check token permissions through :func:`require`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web

from api import errors
from api.catalogue import Operation
from api.errors import LunaError, auth_failed
from api.passwords import VerifiedCredentials, verify_password
from api.storage import accounts as accounts_repo
from api.storage import tokens as tokens_repo
from api.storage.db import Database
from api.storage.models import Account, Token

UUID_PATTERN = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
JWT_ALGORITHM = "HS256"
METHOD_ACTIONS = {
    "POST": "creation",
    "GET": "view",
    "HEAD": "view",
    "PUT": "modification",
    "PATCH": "modification",
    "DELETE": "deletion",
}


class BadCredentials(Exception):
    """Credentials that open nothing; ``reason`` is "wrong", "corrupted" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenGrant:
    token_id: str
    permissions: dict[str, Any]
    visibility_area: str


@dataclass(frozen=True)
class Principal:
    account_id: str
    account_type: str
    scheme: str  # "basic" | "bearer" | "account_id"
    token: TokenGrant | None = field(default=None)

    @property
    def is_admin(self) -> bool:
        return self.account_type == "admin"

    def read_scope(self) -> str | None:
        """Account whose data GET requests may see; None = every account.

        ``user`` accounts see only their own data; ``advanced_user`` and ``admin`` see all
        unless they authenticated with a token whose visibility_area is ``account``.
        """
        if self.account_type == "user":
            return self.account_id
        if self.token is not None and self.token.visibility_area == "account":
            return self.account_id
        return None


def require(principal: Principal, obj: str, action: str) -> None:
    """Raise 403 (11059) unless the principal's token grants ``action`` on ``obj``.

    Login/password and account-id authentication carry every right of the account.
    """
    if principal.token is None:
        return
    granted = principal.token.permissions.get(obj, [])
    if action not in granted:
        raise LunaError(
            errors.TOKEN_PERMISSION_DENIED,
            f"Request denied due to token restrictions, required '{action}' permission for '{obj}'",
        )


class Authenticator:
    def __init__(self, db: Database, secret: str, *, account_id_auth: bool, cookie_name: str) -> None:
        self.db = db
        self.secret = secret
        self.account_id_auth = account_id_auth
        self.cookie_name = cookie_name
        self.verified = VerifiedCredentials()

    # -- tokens ------------------------------------------------------------------------------
    def issue(self, token_id: str, account_id: str, create_time: datetime) -> str:
        """The JWT for a token row; deterministic, so GET /6/tokens can show it again."""
        claims = {"token_id": token_id, "account_id": account_id, "iat": int(create_time.timestamp())}
        return jwt.encode(claims, self.secret, algorithm=JWT_ALGORITHM)

    # -- request authentication -------------------------------------------------------------
    async def authenticate(self, request: web.Request, op: Operation) -> Principal:
        header = request.headers.get("Authorization")
        if header:
            scheme, _, value = header.partition(" ")
            scheme = scheme.lower()
            if scheme == "basic":
                self._allow(op, "BasicAuth")
                return await self._basic(value.strip())
            if scheme == "bearer":
                self._allow(op, "BearerAuth")
                return await self._bearer(value.strip())
            raise auth_failed("Bad format basic authorization header")
        cookie = request.cookies.get(self.cookie_name)
        if cookie and "BearerAuth" in op.security:
            return await self._bearer(cookie)
        account_id = request.headers.get("Luna-Account-Id")
        if account_id and self.account_id_auth and "LunaAccountIdAuth" in op.security:
            return await self._account_id(account_id)
        if op.security == ("BearerAuth",):
            raise auth_failed("Only token is allowed for this action", "Bearer")
        raise auth_failed("Authorization header is missing")

    @staticmethod
    def _allow(op: Operation, scheme: str) -> None:
        if scheme in op.security:
            return
        if scheme == "BearerAuth":
            raise LunaError(
                errors.TOKEN_ACCESS_DENIED, "Access to the resource is denied using authorization by token"
            )
        raise auth_failed("Only token is allowed for this action", "Bearer")

    async def login_owner(self, login: str, password: str) -> Account:
        """The account these credentials open, or :class:`BadCredentials`."""
        async with self.db.session() as session:
            account = await accounts_repo.by_login(session, login)
        if account is None:
            raise BadCredentials("wrong")
        stored = account.password_hash
        if not self.verified.known(login, password, stored):
            # scrypt is slow by design: keep it off the event loop.
            if not await asyncio.to_thread(verify_password, password, stored):
                raise BadCredentials("wrong")
            self.verified.remember(login, password, stored)
        return account

    async def token_owner(self, value: str) -> tuple[Token, Account]:
        """The live token row a JWT names and its account, or :class:`BadCredentials`."""
        try:
            claims = jwt.decode(value, self.secret, algorithms=[JWT_ALGORITHM])
            token_id, account_id = str(claims["token_id"]), str(claims["account_id"])
        except (jwt.PyJWTError, KeyError):
            raise BadCredentials("corrupted") from None
        async with self.db.session() as session:
            token = await tokens_repo.get(session, token_id, account_id)
            account = await accounts_repo.get(session, account_id) if token else None
        if token is None or account is None:
            raise BadCredentials("corrupted")
        if token.expiration_time is not None and token.expiration_time <= datetime.now(UTC):
            raise BadCredentials("expired")
        return token, account

    async def _basic(self, value: str) -> Principal:
        try:
            login, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise auth_failed("Bad format basic authorization header") from None
        if not sep:
            raise auth_failed("Bad format basic authorization header")
        try:
            account = await self.login_owner(login, password)
        except BadCredentials:
            raise auth_failed("Account login or password are incorrect") from None
        return Principal(account.account_id, account.account_type, "basic")

    async def _bearer(self, value: str) -> Principal:
        try:
            token, account = await self.token_owner(value)
        except BadCredentials as exc:
            detail = "Token expired" if exc.reason == "expired" else "Specified token corrupted"
            raise auth_failed(detail, "Bearer") from None
        grant = TokenGrant(token.token_id, token.permissions, token.visibility_area)
        return Principal(account.account_id, account.account_type, "bearer", grant)

    async def _account_id(self, value: str) -> Principal:
        if not UUID_PATTERN.match(value):
            raise auth_failed(f"Bad format of Luna-Account-Id header '{value}'")
        async with self.db.session() as session:
            account = await accounts_repo.get(session, value)
        if account is None:
            raise auth_failed(f"Account with id '{value}' not found")
        if account.account_type == "admin":
            # The deprecated header carries no secret; never let it act as an administrator.
            raise auth_failed("Luna-Account-Id authorization is not allowed for admin accounts")
        return Principal(account.account_id, account.account_type, "account_id")
