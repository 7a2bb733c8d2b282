"""The gateway's decisions (vwclass.gateway.check) and its cache of the API server's answers."""

from __future__ import annotations

import base64
import json

import pytest

from vwclass.gateway import check
from vwclass.gateway.server import Expiring

CLS = check.Class(name="geo", namespace_prefix="geo")


def jwt(claims: dict[str, object]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("uri", "student"),
    [
        ("/ada/lab", "ada"),
        ("/ada/", "ada"),
        ("/student-001/api/kernels?x=1", "student-001"),
        ("/_login/ada?token=t", "ada"),
        ("/_login/ada", "ada"),
        ("/Ada/lab", None),
        ("/-ada/lab", None),
        ("/healthz", None),
        ("/", None),
        ("/ada", None),
        ("//ada/", None),
    ],
)
def test_the_student_a_path_is_for(uri: str, student: str | None) -> None:
    assert check.student_of(uri) == student


def test_only_the_students_own_account_opens_their_workspace() -> None:
    assert CLS.namespace("ada") == "geo-ada"
    assert check.allowed(CLS, "ada", "system:serviceaccount:geo-ada:student")
    assert not check.allowed(CLS, "ada", "system:serviceaccount:geo-bob:student")  # a classmate
    assert not check.allowed(CLS, "ada", "system:serviceaccount:geo-ada:default")  # another account there
    assert not check.allowed(CLS, "ada", "system:serviceaccount:other-ada:student")  # another class
    assert not check.allowed(CLS, "ada", "admin")
    assert not check.allowed(CLS, "ada", None)  # not valid


def test_the_cookie_is_the_students_for_their_path_and_lasts_as_long_as_the_token() -> None:
    token = jwt({"exp": 1_000_3600, "sub": "system:serviceaccount:geo-ada:student"})
    cookie = check.login_cookie("ada", token, secure=False, now=1_000_0000)
    assert cookie.startswith(f"vwclass-ada={token};")
    assert "Path=/ada/" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Max-Age=3600" in cookie
    assert "Secure" not in cookie
    assert "Secure" in check.login_cookie("ada", token, secure=True, now=1_000_0000)
    # Expired meanwhile: gone at once. Unreadable expiry: a session cookie.
    assert "Max-Age=0" in check.login_cookie("ada", token, secure=False, now=2_000_0000)
    assert "Max-Age" not in check.login_cookie("ada", "not-a-jwt", secure=False)
    assert check.expires_at("a.%%%.c") is None


def test_the_token_is_read_from_the_students_own_cookie_only() -> None:
    header = "_xsrf=abc; vwclass-bob=BOBS; vwclass-ada=ADAS"
    assert check.token_in_cookies(header, "ada") == "ADAS"
    assert check.token_in_cookies(header, "bob") == "BOBS"
    assert check.token_in_cookies(header, "cy") == ""
    assert check.token_in_cookies('bad"cookie', "ada") == ""


def test_answers_are_kept_for_their_time_then_asked_again() -> None:
    now = [0.0]
    kept: Expiring[str | None] = Expiring(30.0, clock=lambda: now[0])
    asked: list[str] = []

    def read(value: str | None) -> str | None:
        asked.append(str(value))
        return value

    assert kept.get("k", lambda: read("ada")) == "ada"
    assert kept.get("k", lambda: read("other")) == "ada"
    now[0] = 29.0
    assert kept.get("k", lambda: read(None)) == "ada"
    now[0] = 31.0
    assert kept.get("k", lambda: read(None)) is None  # a refusal is kept too
    assert kept.get("k", lambda: read("again")) is None
    assert asked == ["ada", "None"]
