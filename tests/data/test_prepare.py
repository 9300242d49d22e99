"""`prepare`: shards, manifest, split, resume after a kill, --shard i/N."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from musicvae.cli import main
from musicvae.configs import get_config
from musicvae.data import prepare
from musicvae.data.converters import build_converter
from musicvae.data.lock import FolderBusyError, FolderLock
from musicvae.data.windows import find_midi_files
from musicvae.music.midi_io import read_midi
from tests.conftest import FIXTURES, REPO

CORPUS = FIXTURES / "golden" / "corpus"


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")  # truncated header
    return folder


def load_split(root, split):
    manifest = json.loads((root / "manifest.json").read_text())
    tokens = [
        np.load(root / f"{s['name']}.tokens.npy", mmap_mode="r") for s in manifest["shards"][split]
    ]
    return np.concatenate(tokens) if tokens else np.zeros((0, 0, 0), np.int16)


@pytest.mark.parametrize(
    "config_name", ["cat-mel_2bar_small", "cat-drums_2bar_small", "hierdec-trio_16bar"]
)
def test_dataset_holds_exactly_the_converter_windows(tmp_path, corpus, config_name):
    config = get_config(config_name)
    out = tmp_path / "ds"
    manifest = prepare.prepare_dataset(
        config, find_midi_files([corpus]), out, workers=2, eval_fraction=0.5, progress=False
    )
    assert manifest["counts"]["files_failed"] == 1
    assert manifest["failed"][0]["file"] == "broken.mid"
    stored = np.concatenate([load_split(out, "train"), load_split(out, "eval")])
    expected = Counter()
    for path in sorted(corpus.rglob("*.mid")):
        if path.name != "broken.mid":
            t = build_converter(config.data).to_tensors(read_midi(path))
            expected.update(o.tobytes() for o in t.outputs)
            for i, _o in zip(
                t.inputs, t.outputs, strict=False
            ):  # inputs are a function of the tokens
                assert i.shape[-1] == build_converter(config.data).input_depth
    got_outputs = build_converter(config.data).tokens_to_outputs(stored)
    assert Counter(o.tobytes() for o in got_outputs) == expected
    assert (
        build_converter(config.data).tokens_to_inputs(stored).shape[-1]
        == build_converter(config.data).input_depth
    )
    counts = manifest["counts"]["windows"]
    assert counts["train"] + counts["eval"] == sum(expected.values())
    per_source = {s["file"]: s["windows"] for s in manifest["sources"]}
    assert sum(per_source.values()) == sum(expected.values())


def test_drum_roll_inputs_rebuilt_from_tokens_equal_converter_inputs():
    config = get_config("cat-drums_2bar_small")
    seq = read_midi(CORPUS / "multitrack" / "mma" / "mma__examples__after__after.mid")
    t = build_converter(config.data).to_tensors(seq)
    tokens = t.outputs.argmax(-1)[..., None]
    assert np.array_equal(build_converter(config.data).tokens_to_inputs(tokens), t.inputs)


def test_split_is_by_content_and_deterministic(tmp_path, corpus):
    config = get_config("cat-mel_2bar_small")
    a = prepare.prepare_dataset(
        config, find_midi_files([corpus]), tmp_path / "a", eval_fraction=0.5, progress=False
    )
    b = prepare.prepare_dataset(
        config,
        find_midi_files([corpus]),
        tmp_path / "b",
        workers=2,
        eval_fraction=0.5,
        progress=False,
    )
    assert a["sources"] == b["sources"]
    assert np.array_equal(load_split(tmp_path / "a", "train"), load_split(tmp_path / "b", "train"))
    none_eval = prepare.prepare_dataset(
        config, find_midi_files([corpus]), tmp_path / "c", eval_fraction=0.0, progress=False
    )
    assert none_eval["counts"]["windows"]["eval"] == 0


def test_killed_run_resumes_without_redoing_files(tmp_path, corpus, monkeypatch):
    config = get_config("cat-mel_2bar_small")
    sources = find_midi_files([corpus])
    reference = prepare.prepare_dataset(config, sources, tmp_path / "ref", progress=False)

    calls = []
    real = prepare.prepare_file

    def dying(source, *args):
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process is killed while converting file 4
        calls.append(source.relative.as_posix())
        return real(source, *args)

    monkeypatch.setattr(prepare, "prepare_file", dying)
    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare_dataset(config, sources, out, progress=False, shard_windows=1)
    done_before = {json.loads(line)["file"] for line in (out / "journal.jsonl").open()}
    assert 0 < len(done_before) <= 3

    calls.clear()
    monkeypatch.setattr(
        prepare, "prepare_file", lambda s, *a: calls.append(s.relative.as_posix()) or real(s, *a)
    )
    resumed = prepare.prepare_dataset(config, sources, out, progress=False)
    assert not set(calls) & done_before  # finished files were not redone
    assert set(calls) | done_before == {s.relative.as_posix() for s in sources}
    assert resumed["counts"] == reference["counts"]
    ref_tokens = Counter(map(bytes, load_split(tmp_path / "ref", "train")))
    assert Counter(map(bytes, load_split(out, "train"))) == ref_tokens


def test_shards_of_a_corpus_partition_it(tmp_path, corpus):
    config = get_config("cat-mel_2bar_small")
    sources = find_midi_files([corpus])
    seen = []
    for i in range(3):
        m = prepare.prepare_dataset(
            config, sources, tmp_path / f"s{i}", shard=(i, 3), progress=False
        )
        seen += [s["file"] for s in m["sources"]] + [f["file"] for f in m["failed"]]
    assert sorted(seen) == sorted(s.relative.as_posix() for s in sources)


def test_output_prepared_with_other_settings_is_refused(tmp_path, corpus):
    sources = find_midi_files([corpus])
    prepare.prepare_dataset(
        get_config("cat-mel_2bar_small"), sources, tmp_path / "ds", progress=False
    )
    with pytest.raises(ValueError, match="other settings"):
        prepare.prepare_dataset(
            get_config("hierdec-mel_16bar"), sources, tmp_path / "ds", progress=False
        )


def test_prepare_cli_reports_and_fails_on_empty_input(tmp_path, corpus, capsys):
    out = tmp_path / "ds"
    assert (
        main(
            [
                "prepare",
                "--config",
                "cat-mel_2bar_small",
                "--input",
                str(corpus),
                "--output",
                str(out),
                "--quiet",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "1 failed" in printed and "manifest.json" in printed
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        main(
            [
                "prepare",
                "--config",
                "cat-mel_2bar_small",
                "--input",
                str(empty),
                "--output",
                str(tmp_path / "ds2"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "no MIDI files" in capsys.readouterr().err
    with pytest.raises(ValueError, match="i/N"):
        prepare.parse_shard("2of3")


# ------------------------------------------------------------------ one prepare per folder


def _prepare_in_subprocess(corpus, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "musicvae", "prepare", "--config", "cat-mel_2bar_small"]
    cmd += ["--input", str(corpus), "--output", str(out), "--workers", "1", "--quiet"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_a_second_prepare_on_the_same_folder_refuses(corpus, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    with FolderLock(out, "prepare"):  # this process is a prepare in progress
        second = _prepare_in_subprocess(corpus, out)
        assert second.returncode == 2
        assert f"in use by another `prepare` (process {os.getpid()}" in second.stderr
        assert "Traceback" not in second.stderr
        assert sorted(p.name for p in out.iterdir()) == [".prepare.lock"]  # nothing written
    assert not (out / ".prepare.lock").exists()
    assert _prepare_in_subprocess(corpus, out).returncode == 0  # free again


def test_a_lock_left_by_a_dead_process_does_not_stick(corpus, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is now free
    out = tmp_path / "ds"
    out.mkdir()
    lock = out / ".prepare.lock"
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    manifest = prepare.prepare_dataset(
        get_config("cat-mel_2bar_small"), find_midi_files([corpus]), out, progress=False
    )
    assert manifest["counts"]["windows"]["train"] > 0
    assert not lock.exists()


def test_a_lock_of_a_live_process_is_respected(corpus, tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "ds"
        out.mkdir()
        (out / ".prepare.lock").write_text(
            json.dumps({"pid": sleeper.pid, "host": socket.gethostname()})
        )
        with pytest.raises(FolderBusyError, match=f"process {sleeper.pid}"):
            prepare.prepare_dataset(
                get_config("cat-mel_2bar_small"), find_midi_files([corpus]), out, progress=False
            )
        assert not (out / "journal.jsonl").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
