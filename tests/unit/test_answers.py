"""One decoder for the NBI's answers: FastAPI's detail, pydantic's problem lists, a proxy's page."""

from __future__ import annotations

import httpx
import pytest

from labkit import answers
from labkit.errors import LabError


def answer(status: int, **kwargs) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "http://127.0.0.1/x"), **kwargs)


def test_fastapis_detail_and_pydantics_problems_read_as_one_line():
    assert answers.detail(answer(404, json={"detail": "no such file"})) == "no such file"
    problems = {"detail": [{"msg": "Field required"}, {"msg": "String too long"}]}
    assert answers.detail(answer(422, json=problems)) == "Field required; String too long"


def test_a_proxys_html_page_is_folded_and_cut():
    page = "<html>\n<body>\n  Service   Unavailable\n</body></html>" + "x" * 1000
    line = answers.detail(answer(503, text=page))
    assert "\n" not in line and line.startswith("<html> <body> Service Unavailable")
    assert len(line) == answers.LIMIT


def test_an_error_raises_with_status_and_hint_and_success_passes_through():
    with pytest.raises(LabError) as caught:
        answers.json_or_error(answer(409, json={"detail": "exists", "hint": "pick a new name"}))
    assert caught.value.message == "exists (HTTP 409)"
    assert caught.value.hint == "pick a new name"
    assert answers.json_or_error(answer(200, json={"files": []})) == {"files": []}
