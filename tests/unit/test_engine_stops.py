"""The stop rule both engines apply after every token or streamed chunk (GenerationRequest.check_text)."""

from __future__ import annotations

from codehearth.engine.base import GenerationRequest, find_stop


def test_first_stop_string_cuts_and_ends_without_on_text() -> None:
    seen: list[str] = []
    req = GenerationRequest(prompt=["x"], stop=["\n\n", "", "}"], on_text=seen.append)
    assert find_stop("a}\n\nb", req.stop) == 1
    assert find_stop("abc", req.stop) is None  # an empty stop string matches nothing
    assert req.check_text("ret}\n\n", req.stop) == ("ret", True)
    assert seen == []


def test_text_that_goes_on_is_shown_then_should_stop_may_end_it() -> None:
    seen: list[str] = []
    req = GenerationRequest(prompt=["x"], on_text=seen.append, should_stop=lambda text: text.endswith(";"))
    assert req.check_text("a = 1", ["\n"]) == ("a = 1", False)
    assert req.check_text("a = 1;", ["\n"]) == ("a = 1;", True)
    assert seen == ["a = 1", "a = 1;"]
    assert GenerationRequest(prompt=["x"]).check_text("abc", []) == ("abc", False)
