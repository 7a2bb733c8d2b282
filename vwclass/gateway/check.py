"""What the gateway's check decides, from a request's path, cookies and the API server's review of a
token: no I/O.

A student's token is a ServiceAccount token of their own account (the one `vwclass credentials` puts
in their kubeconfig). The API server says whose it is and whether it is still valid (TokenReview); the
check lets it into /<student>/ only when that account is <student>'s, in the class's namespace for them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from vwclass.core import names

# A student id is a DNS-1123 label (the CRD's pattern): /<student>/... is their workspace (as nginx's
# location matches it), /_login/<student> their login link.
_LABEL = r"([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)"
_WORKSPACE = re.compile(rf"^/{_LABEL}/")
_LOGIN = re.compile(rf"^/_login/{_LABEL}(?:$|\?)")
COOKIE_PREFIX = "vwclass-"


@dataclass(frozen=True)
class Class:
    """What the check knows of its class: where each student's namespace is, and their account's name."""

    name: str
    namespace_prefix: str
    student_account: str = names.STUDENT_SERVICE_ACCOUNT

    def namespace(self, student: str) -> str:
        return names.namespace_name(self.namespace_prefix, student)

    def username(self, student: str) -> str:
        """The user the API server names for a token of the student's account."""
        return f"system:serviceaccount:{self.namespace(student)}:{self.student_account}"


def student_of(uri: str) -> str | None:
    """The student a request's path is for (/<student>/... or /_login/<student>); None for another path."""
    match = _WORKSPACE.match(uri) or _LOGIN.match(uri)
    return match.group(1) if match else None


def cookie_name(student: str) -> str:
    return f"{COOKIE_PREFIX}{student}"


def token_in_cookies(header: str, student: str) -> str:
    """The student's gateway cookie's value in a Cookie header ("" when there is none)."""
    try:
        cookies = SimpleCookie(header)
    except CookieError:
        return ""
    morsel = cookies.get(cookie_name(student))
    return morsel.value if morsel is not None else ""


def expires_at(token: str) -> float | None:
    """When a token says it expires (its JWT's exp claim), read without checking it: only ever asked of
    a token the API server has just found valid, to date the cookie that holds it."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return None


def login_cookie(student: str, token: str, secure: bool, now: float | None = None) -> str:
    """The Set-Cookie value that logs a student in: their token, for their path only, gone when the
    token expires (a session cookie when its expiry cannot be read)."""
    cookie = SimpleCookie()
    cookie[cookie_name(student)] = token
    morsel = cookie[cookie_name(student)]
    morsel["path"] = names.workspace_path(student)
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    if secure:
        morsel["secure"] = True
    expiry = expires_at(token)
    if expiry is not None:
        morsel["max-age"] = str(max(0, int(expiry - (time.time() if now is None else now))))
    return morsel.OutputString()


def allowed(cls: Class, student: str, reviewed_user: str | None) -> bool:
    """Whether a token the API server found to be reviewed_user's (None: not valid) opens student's workspace."""
    return reviewed_user is not None and reviewed_user == cls.username(student)
