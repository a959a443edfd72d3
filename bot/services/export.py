"""A conversation as a Markdown file (/history's export)."""

from __future__ import annotations

import re

from storage.chat import StoredMessage


def export_markdown(name: str, turns: list[StoredMessage]) -> str:
    """Title, then each turn under a heading naming who wrote it (and the model)."""
    lines = [f"# {name}", ""]
    for turn in turns:
        if turn.role == "user":
            lines.append("## You")
        elif turn.role == "assistant":
            lines.append(f"## Assistant ({turn.model})" if turn.model else "## Assistant")
        else:
            continue
        lines += ["", turn.content.strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def export_name(name: str) -> str:
    """A safe file name from the conversation's name."""
    stem = re.sub(r"[^\w\- ]+", "", name, flags=re.UNICODE).strip().replace(" ", "_")[:60]
    return f"{stem or 'conversation'}.md"
