"""The fake Bot API over HTTP answers Telegram's 400s for over-limit requests, in every encoding PTB uses."""

from __future__ import annotations

import json

import httpx

from bot.offline.fakeserver import FakeBotApiServer
from tests.e2e.conftest import TOKEN


async def test_over_limit_requests_get_telegrams_bad_request_over_http(api: FakeBotApiServer) -> None:
    base = f"{api.url}/bot{TOKEN}"
    too_long_data = json.dumps({"inline_keyboard": [[{"text": "x", "callback_data": "濉" * 22}]]})
    async with httpx.AsyncClient() as client:
        form = await client.post(f"{base}/sendMessage", data={"chat_id": "1001", "text": "a" * 4097})
        as_json = await client.post(f"{base}/sendMessage", json={"chat_id": 1001, "text": "😀" * 2049})
        button = await client.post(f"{base}/sendMessage", data={"chat_id": "1001", "text": "x", "reply_markup": too_long_data})
        caption = await client.post(
            f"{base}/sendDocument", data={"chat_id": "1001", "caption": "a" * 1025}, files={"document": ("a.xlsx", b"PK")}
        )
        fine = await client.post(f"{base}/sendMessage", data={"chat_id": "1001", "text": "a" * 4096})
    assert [r.status_code for r in (form, as_json, button, caption, fine)] == [400, 400, 400, 400, 200]
    assert form.json() == {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
    assert as_json.json()["description"] == "Bad Request: message is too long"
    assert button.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"
    assert caption.json()["description"] == "Bad Request: message caption is too long"
    assert [m["text"] for m in api.fake.sent(1001)] == ["a" * 4096]
