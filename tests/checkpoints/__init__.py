"""Tests of musicvae.checkpoints; `read_vars_file` parses magenta-golden/vars_<config>.txt."""

from __future__ import annotations

import ast
from pathlib import Path


def read_vars_file(path: Path) -> dict[str, dict[str, tuple[int, ...]]]:
    """Sections of a vars file: the first header line of a section -> {name: shape}.

    Sections: '<config>: N trainable variables, ...', 'non-trainable / optimizer variables of
    the train graph ...', 'variables of the TrainedModel inference graph ...'.
    """
    sections: dict[str, dict[str, tuple[int, ...]]] = {}
    current: dict[str, tuple[int, ...]] | None = None
    for line in path.read_text().splitlines():
        if not line.strip():
            current = None
        elif line.startswith("#"):
            if current is None:
                current = sections.setdefault(line[1:].strip(), {})
        else:
            name, shape = line.split("\t")
            current[name] = tuple(ast.literal_eval(shape))
    return sections


def section(sections: dict, phrase: str) -> dict[str, tuple[int, ...]]:
    """The one section whose header contains `phrase`."""
    (found,) = [v for k, v in sections.items() if phrase in k]
    return found
