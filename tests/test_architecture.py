"""The intended walls between packages, checked over the import graph of src/musicvae (every
import statement, also those inside functions), and the torch-free light commands."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import musicvae

PACKAGE = Path(musicvae.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    return imports_of_as(path, module_name(path))


def imports_of_as(path: Path, here: str) -> set[str]:
    """imports_of for the source at `path` read as module `here`."""
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules
    return found


GRAPH = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offending(
    source: tuple[str, ...], forbidden: tuple[str, ...], graph: dict | None = None
) -> list[str]:
    """'module imports name' for each import from a `source` package of a `forbidden` one."""
    return sorted(
        f"{m} imports {i}"
        for m, imported in (GRAPH if graph is None else graph).items()
        if within(m, *source)
        for i in imported
        if within(i, *forbidden)
    )


def test_graph_covers_the_package():
    assert {"musicvae.configs", "musicvae.models.vae", "musicvae.cli", "musicvae.music.notes"} <= (
        set(GRAPH)
    )
    assert "musicvae.configs" in GRAPH["musicvae.builders"]  # the parser sees real imports


def test_music_imports_no_torch_and_nothing_above_it():
    above = ("torch", "musicvae.data", "musicvae.models", "musicvae.train", "musicvae.inference")
    assert offending(("musicvae.music",), above) == []


def test_data_never_imports_models_training_or_inference():
    above = (
        "torch.nn",
        "musicvae.models",
        "musicvae.builders",
        "musicvae.train",
        "musicvae.inference",
        "musicvae.checkpoints",
    )
    assert offending(("musicvae.data", "musicvae.corpus"), above) == []


def test_models_import_only_models_and_the_file_helpers():
    assert [
        f"{m} imports {i}"
        for m, imported in GRAPH.items()
        if within(m, "musicvae.models")
        for i in imported
        if within(i, "musicvae") and not within(i, "musicvae.models", "musicvae.files")
    ] == []


@pytest.mark.parametrize("leaf", ["musicvae.configs", "musicvae.files"])
def test_leaf_modules_import_nothing_from_the_package(leaf):
    assert [i for i in GRAPH[leaf] if within(i, "musicvae")] == []


def test_command_and_web_layers_reach_models_only_through_inference():
    layers = ("musicvae.cli", "musicvae.studio", "musicvae.web")
    assert offending(layers, ("musicvae.models", "musicvae.builders", "torch")) == []


def test_checker_reports_an_upward_import(tmp_path):
    """The checker itself, on a planted module: relative and in-function imports count."""
    planted = tmp_path / "vae.py"
    planted.write_text("def f():\n    from ..data.converters import build_converter\n")
    graph = {"musicvae.models.vae": imports_of_as(planted, "musicvae.models.vae")}
    assert offending(("musicvae.models",), ("musicvae.data",), graph) == [
        "musicvae.models.vae imports musicvae.data.converters",
        "musicvae.models.vae imports musicvae.data.converters.build_converter",
    ]
    assert offending(("musicvae.music",), ("musicvae.data",), graph) == []


def _modules_after(code: str) -> tuple[set[str], subprocess.CompletedProcess]:
    """Modules loaded by `code` in a fresh interpreter (PYTHONPATH as this test run's)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)), file=sys.stderr)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    return set(done.stderr.split()), done


@pytest.mark.parametrize("argv", [["configs"], ["--help"], ["sample", "--help"]])
def test_light_commands_do_not_import_torch(argv):
    code = (
        "from musicvae.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        "assert code == 0, code"
    )
    loaded, done = _modules_after(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "musicvae.cli" in loaded and "torch" not in loaded
    if argv == ["configs"]:
        assert "cat-mel_2bar_small" in done.stdout and "hierdec-trio_16bar" in done.stdout
