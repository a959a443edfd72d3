"""Reasoning models' <think> blocks are kept out of answers (bot/services/reasoning.py)."""

from __future__ import annotations

import pytest

from bot.services.reasoning import ThinkFilter, thinks


def run(pieces: list[str]) -> tuple[list[str], str]:
    f = ThinkFilter()
    shown = [f.feed(p) for p in pieces]
    return shown, f.flush()


def test_thinking_with_both_tags_is_dropped() -> None:
    shown, rest = run(["<think>\nLet me", " consider.\n</think>\n\n", "The answer", " is 4."])
    assert "".join(shown) + rest == "The answer is 4."
    assert shown[:2] == ["", ""]  # nothing shows while the model thinks


def test_closing_tag_alone_ends_the_thinking() -> None:
    # The opening tag is often in the prompt template, not in the output.
    shown, rest = run(["Hmm, two plus two", "...</think>", "Four."])
    assert "".join(shown) + rest == "Four."


@pytest.mark.parametrize("pieces", [["...</", "think>Answer"], ["...<", "/thi", "nk", ">Answer"]])
def test_a_tag_split_across_pieces(pieces: list[str]) -> None:
    shown, rest = run(pieces)
    assert "".join(shown) + rest == "Answer"


def test_after_the_thinking_everything_passes_even_tags() -> None:
    shown, rest = run(["x</think>A", " literal </think> in the answer"])
    assert "".join(shown) + rest == "A literal </think> in the answer"


def test_no_closing_tag_gives_everything_back_at_the_end() -> None:
    shown, rest = run(["Just ", "an answer ", "without thinking."])
    assert shown == ["", "", ""]
    assert rest == "Just an answer without thinking."


def test_thinking_cut_short_is_shown_rather_than_nothing() -> None:
    shown, rest = run(["<think>\nStep one", " and step two"])
    assert shown == ["", ""]
    assert rest == "Step one and step two"


def test_long_thinking_is_held_in_one_piece() -> None:
    shown, rest = run(["word "] * 500 + ["</think>", "Done."])
    assert "".join(shown) + rest == "Done."


def test_which_models_think() -> None:
    assert thinks("deepseek-ai/DeepSeek-R1-Distill-Llama-70B")
    assert thinks("DeepSeek-R1-Distill-Qwen-32B")
    assert not thinks("meta-llama/Llama-3.3-70B-Instruct")
    assert not thinks("Llama-3.1-70B-Instruct")
