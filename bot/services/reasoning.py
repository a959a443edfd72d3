"""Reasoning models' thinking, kept out of the answer.

DeepSeek-R1 and its distills write their chain of thought first, closed by ``</think>``
(the opening ``<think>`` is often part of the prompt template, so it may or may not be in
the output), then the answer. Shown as it is, a user would get a long "<think>…" monologue,
escaped, before every answer, and it would be sent back upstream with the history.

:class:`ThinkFilter` takes the streamed pieces and passes on only what follows the thinking.
While the model thinks nothing of it is passed on; the thinking itself is kept in
:attr:`ThinkFilter.thought` once it is closed (a rich answer shows it as a collapsed block;
memory never keeps it). A model that never closes its thinking (an answer without any, or
one cut short) loses nothing: what was held back is passed on at the end.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


def thinks(model: str) -> bool:
    """Models known to write a ``<think>`` block first."""
    name = model.lower()
    return "deepseek-r1" in name or "qwq" in name


class ThinkFilter:
    def __init__(self) -> None:
        self._held: list[str] = []  # text before the end of the thinking
        self._passing = False  # the thinking is over: everything passes
        self.thought = ""  # the closed thinking, without its tags

    @property
    def thinking(self) -> bool:
        """Text arrived and the thinking is not closed yet."""
        return not self._passing and bool(self._held)

    def feed(self, piece: str) -> str:
        """The part of ``piece`` that belongs to the answer (often ``""``)."""
        if self._passing:
            return piece
        self._held.append(piece)
        text = "".join(self._held)
        end = text.find(CLOSE)
        if end < 0:
            if len(self._held) > 64:  # keep the join cheap on long thoughts
                self._held = [text]
            return ""
        self._passing = True
        self._held = []
        thought = text[:end].strip()
        self.thought = thought[len(OPEN) :].strip() if thought.startswith(OPEN) else thought
        return text[end + len(CLOSE) :].lstrip()

    def flush(self) -> str:
        """At the end of the stream: what was held back, if the thinking never ended
        (there was none, or the answer was cut short)."""
        if self._passing:
            return ""
        text = "".join(self._held).strip()
        self._held = []
        if text.startswith(OPEN):
            text = text[len(OPEN) :].lstrip()
        return text
