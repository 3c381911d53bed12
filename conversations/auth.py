"""Bearer-token authentication for accounts and for the admin."""

from __future__ import annotations

import secrets

from aiohttp import web

from conversations.appkeys import ADMIN_TOKEN, STORE
from conversations.errors import Forbidden, Unauthorized
from conversations.models import Account


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization: send 'Bearer <token>'; create an account with POST /api/accounts to get one")
    return token.strip()


async def current_account(request: web.Request) -> Account:
    account = await request.app[STORE].account_for_token(bearer_token(request))
    if account is None:
        raise Unauthorized("Authorization: unknown token; use the token returned when the account was created")
    return account


def require_admin(request: web.Request) -> None:
    if not secrets.compare_digest(bearer_token(request), request.app[ADMIN_TOKEN]):
        raise Forbidden("Authorization: not the admin token; set forum.admin_token or MURMUR_ADMIN_TOKEN")
