"""The offline agent's echo, word for word, for the peers that stand in for the generated server."""

from __future__ import annotations

# What every benchmark request says; the floor answers it with a body fixed in advance.
INPUT = "Hello from the benchmark"


def echo_chunks(text: str) -> list[str]:
    """The chunks the template's offline agent yields for `text`, with no history and no tools."""
    words = f"(offline) You said: {text}".split(" ")
    return [
        *(word if index == 0 else " " + word for index, word in enumerate(words)),
        "\nEarlier messages: 0.",
        "\nTools: none.",
    ]
