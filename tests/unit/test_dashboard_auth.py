"""Telegram initData is checked exactly as Telegram documents; session cookies last 8 hours."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.dashboard.auth import Unauthorized, hash_token, new_token, read_session, session_value, validate_init_data
from tests.dashboard_live import OTHER_TOKEN, TOKEN, sign_init_data

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def check(init_data: str, token: str = TOKEN) -> int:
    return validate_init_data(init_data, token, now=NOW, max_age=HOUR).id


def test_init_data_signed_for_our_bot_names_its_user() -> None:
    user = validate_init_data(sign_init_data(TOKEN, 3001, NOW, name="Li", lang="en-GB"), TOKEN, now=NOW, max_age=HOUR)
    assert (user.id, user.name, user.language) == (3001, "Li", "en")


def test_a_known_good_telegram_example_validates() -> None:
    # Computed independently of sign_init_data: the documented recipe step by step.
    import hashlib
    import hmac

    fields = {"auth_date": str(int(NOW.timestamp())), "user": '{"id":7,"first_name":"A"}', "signature": "abc"}
    check_string = f"auth_date={fields['auth_date']}\nsignature=abc\nuser={fields['user']}"
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    assert check(urlencode(fields)) == 7


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda f: {**f, "hash": "0" * 64}, id="wrong hash"),
        pytest.param(lambda f: {k: v for k, v in f.items() if k != "hash"}, id="missing hash"),
        pytest.param(lambda f: {**f, "hash": ""}, id="empty hash"),
        pytest.param(lambda f: {**f, "user": f["user"].replace("3001", "3002")}, id="other user id, same hash"),
        pytest.param(lambda f: {**f, "auth_date": str(int(f["auth_date"]) + 1)}, id="auth_date changed"),
        pytest.param(lambda f: {**f, "hash": f["hash"].upper()}, id="hash in upper case"),
    ],
)
def test_tampered_init_data_is_refused(mangle: object) -> None:
    fields = dict(parse_qsl(sign_init_data(TOKEN, 3001, NOW)))
    with pytest.raises(Unauthorized):
        check(urlencode(mangle(fields)))  # type: ignore[operator]


def test_init_data_of_another_bot_is_refused() -> None:
    with pytest.raises(Unauthorized, match="hash"):
        check(sign_init_data(OTHER_TOKEN, 3001, NOW))


def test_old_auth_date_is_refused_and_the_limit_is_configurable() -> None:
    old = sign_init_data(TOKEN, 3001, NOW - HOUR - timedelta(seconds=1))
    with pytest.raises(Unauthorized, match="too old"):
        check(old)
    assert validate_init_data(old, TOKEN, now=NOW, max_age=2 * HOUR).id == 3001
    assert check(sign_init_data(TOKEN, 3001, NOW - HOUR)) == 3001


def test_auth_date_from_the_future_is_refused() -> None:
    with pytest.raises(Unauthorized, match="future"):
        check(sign_init_data(TOKEN, 3001, NOW + timedelta(minutes=5)))


@pytest.mark.parametrize("text", ["", "hash", "a=1&a=2&hash=x", "x" * 5000, "%zz=1&hash=1"])
def test_garbage_is_refused_not_crashed_on(text: str) -> None:
    with pytest.raises(Unauthorized):
        check(text)


def test_signed_init_data_without_a_user_is_refused() -> None:
    fields = dict(parse_qsl(sign_init_data(TOKEN, 3001, NOW)))
    del fields["user"], fields["hash"]
    import hashlib
    import hmac

    check_string = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(Unauthorized, match="user"):
        check(urlencode(fields))


def test_session_lasts_eight_hours() -> None:
    value = session_value(3001, NOW).encode()
    assert read_session(value, NOW + timedelta(hours=8)) == 3001
    assert read_session(value, NOW + timedelta(hours=8, seconds=1)) is None
    assert read_session(b"3001", NOW) is None and read_session(b"x:y", NOW) is None and read_session(None, NOW) is None


def test_link_tokens_are_random_and_only_their_hash_is_kept() -> None:
    first, second = new_token(), new_token()
    assert first != second and len(first) >= 43
    assert hash_token(first) != first and len(hash_token(first)) == 64
