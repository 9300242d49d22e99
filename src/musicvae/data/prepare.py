"""`prepare`: a MIDI folder or corpus -> a training dataset of memory-mappable shards.

Layout of DATASET/:
  manifest.json                 config, counts per split, files read/failed, windows per source
  journal.jsonl                 one line per file once its windows are safely in a shard
  train/shard-00000.tokens.npy  (N, T, S) int16 class indices (the converter's token codec)
  eval/...
Files go to train or eval by a hash of their bytes, so a file lands in the same split on every
machine and duplicates of a file never straddle the split. A killed run resumes: files recorded
in the journal are skipped, shards the journal does not know are removed. Memory stays flat:
windows are buffered up to `shard_windows` and then written out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from musicvae.configs import Config, DataConfig
from musicvae.data.converters import build_converter
from musicvae.data.lock import FolderLock
from musicvae.data.parallel import ordered_map
from musicvae.data.windows import NoInputError, Source, file_seed, find_midi_files
from musicvae.files import atomic_write, atomic_write_text, save_npy
from musicvae.music.midi_io import MidiReadError, read_midi
from musicvae.music.sequences import QuantizationError

log = logging.getLogger(__name__)

SPLITS = ("train", "eval")
LOCK = ".prepare.lock"  # FolderLock(root, "prepare")
JOURNAL = "journal.jsonl"
MANIFEST = "manifest.json"


def split_of(content_sha1: str, eval_fraction: float) -> str:
    """Deterministic split from the file's content hash."""
    return "eval" if int(content_sha1[:8], 16) / 2**32 < eval_fraction else "train"


def parse_shard(text: str | None) -> tuple[int, int]:
    """'i/N' -> (i, N) with 0 <= i < N; None -> (0, 1)."""
    if not text:
        return 0, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/N (e.g. 0/4), not {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard {text}: need 0 <= i < N")
    return i, n


def in_shard(relative: str, shard: tuple[int, int]) -> bool:
    i, n = shard
    if n == 1:
        return True
    h = int.from_bytes(hashlib.sha1(relative.encode()).digest()[:8], "little")
    return h % n == i


@dataclass(frozen=True)
class PreparedFile:
    relative: str
    sha1: str | None
    split: str | None
    tokens: np.ndarray | None  # (N, T, S) int16
    error: str | None = None
    reason: str | None = None

    @property
    def windows(self) -> int:
        return 0 if self.tokens is None else len(self.tokens)


def prepare_file(
    source: Source, data: DataConfig, eval_fraction: float, max_windows: int | None
) -> PreparedFile:
    """One file -> its windows as tokens; errors become a one-line reason, never an exception."""
    rel = source.relative.as_posix()
    try:
        raw = source.path.read_bytes()
    except OSError as e:
        return PreparedFile(rel, None, None, None, error=f"cannot read file: {e.strerror or e}")
    sha1 = hashlib.sha1(raw).hexdigest()
    split = split_of(sha1, eval_fraction)
    try:
        seq = read_midi(raw)
        tensors = build_converter(data).to_tensors(seq)
    except MidiReadError as e:
        return PreparedFile(rel, sha1, split, None, error=str(e))
    except QuantizationError as e:
        return PreparedFile(rel, sha1, split, None, error=f"{type(e).__name__}: {e}")
    if not len(tensors):
        return PreparedFile(
            rel, sha1, split, None, reason=build_converter(data).no_window_reason(seq)
        )
    if max_windows is not None and len(tensors) > max_windows:
        rng = np.random.default_rng(file_seed(0, rel))
        tensors = tensors.take(np.sort(rng.choice(len(tensors), max_windows, replace=False)))
    return PreparedFile(rel, sha1, split, build_converter(data).to_tokens(tensors))


def _prepare_task(args) -> PreparedFile:
    return prepare_file(*args)


class ShardWriter:
    """Buffers windows per split and writes them as numbered .npy shards with a journal."""

    def __init__(self, root: Path, shard_windows: int, first_index: dict[str, int]):
        self.root = root
        self.shard_windows = shard_windows
        self.next_index = dict(first_index)
        self.buffers: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
        self.buffered = dict.fromkeys(SPLITS, 0)
        self.pending: list[dict] = []  # journal records waiting for their shard
        self.last_flush = time.monotonic()

    def add(self, record: dict, tokens: np.ndarray | None) -> None:
        self.pending.append(record)
        if tokens is not None:
            split = record["split"]
            self.buffers[split].append(tokens)
            self.buffered[split] += len(tokens)

    def due(self, max_seconds: float = 60.0) -> bool:
        return (
            max(self.buffered.values()) >= self.shard_windows
            or time.monotonic() - self.last_flush > max_seconds
        )

    def flush(self) -> None:
        """Writes buffered windows (tmp + rename), then journals the files they came from."""
        for split in SPLITS:
            if not self.buffers[split]:
                continue
            name = f"{split}/shard-{self.next_index[split]:05d}"
            tokens = np.concatenate(self.buffers[split])
            (self.root / split).mkdir(parents=True, exist_ok=True)
            atomic_write(self.root / f"{name}.tokens.npy", lambda tmp, a=tokens: save_npy(tmp, a))
            for record in self.pending:
                if record.get("split") == split and record.get("windows"):
                    record["shard"] = name
            self.next_index[split] += 1
            self.buffers[split] = []
            self.buffered[split] = 0
        if self.pending:
            with open(self.root / JOURNAL, "a") as f:
                for record in self.pending:
                    f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
        self.pending = []
        self.last_flush = time.monotonic()


def read_journal(root: Path) -> list[dict]:
    """Journal records; a torn last line (killed mid-write) is ignored."""
    path = root / JOURNAL
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def _clean_unjournaled_shards(root: Path, records: list[dict]) -> dict[str, int]:
    """Removes shards written after the last journal line; returns the next index per split."""
    known = {r["shard"] for r in records if r.get("shard")}
    next_index = dict.fromkeys(SPLITS, 0)
    for split in SPLITS:
        for path in sorted((root / split).glob("shard-*")):
            name = f"{split}/{path.name.split('.')[0]}"
            if name not in known or path.name.endswith(".tmp"):
                path.unlink()
            else:
                next_index[split] = max(next_index[split], int(name[-5:]) + 1)
    return next_index


def prepare_dataset(config: Config, sources: list[Source], output: str | os.PathLike, **options):
    """Builds (or resumes) a dataset; returns its manifest. The folder is locked meanwhile: a
    second `prepare` on it refuses (FolderBusyError) until the first ends or dies.

    `output` must be new, empty, or a dataset of the same settings (which is resumed): a
    folder holding other files is refused, and a run that fails before writing anything
    leaves no folder behind (musicvae.outputs)."""
    from musicvae.outputs import MARKER, OutputError, check_writable, output_folder

    root = Path(output)
    held = {p.name for p in root.iterdir()} - {LOCK, MARKER} if root.is_dir() else set()
    if root.is_dir() and ("settings.json" in held or (not held and (root / LOCK).exists())):
        check_writable(root)  # a dataset (resumed), or one whose prepare holds or left a lock
        with FolderLock(root, "prepare"):
            return _prepare_dataset(config, sources, output, **options)
    if held:
        raise OutputError(
            f"--output {root} holds files but no dataset (no settings.json); choose an empty "
            "or new folder"
        )
    with output_folder(root, overwrite=False, command="prepare"):
        with FolderLock(root, "prepare"):
            return _prepare_dataset(config, sources, output, **options)


def _prepare_dataset(
    config: Config,
    sources: list[Source],
    output: str | os.PathLike,
    *,
    workers: int = 1,
    eval_fraction: float = 0.1,
    max_windows_per_file: int | None = None,
    shard: tuple[int, int] = (0, 1),
    shard_windows: int = 65536,
    progress: bool = True,
    extra_manifest: dict | None = None,
) -> dict:
    from tqdm import tqdm

    start = time.perf_counter()
    root = Path(output)
    root.mkdir(parents=True, exist_ok=True)
    settings = {
        "config": config.name,
        "data": asdict(config.data),
        "eval_fraction": eval_fraction,
        "max_windows_per_file": max_windows_per_file,
        "shard": f"{shard[0]}/{shard[1]}",
    }
    settings_path = root / "settings.json"
    if settings_path.exists():
        previous = json.loads(settings_path.read_text())
        previous.get("data", {}).setdefault("any_program", False)  # datasets made before it
        if previous != json.loads(json.dumps(settings)):
            raise ValueError(
                f"{root} was prepared with other settings ({previous['config']}, "
                f"shard {previous['shard']}); use another --output or delete it"
            )
    else:
        settings_path.write_text(json.dumps(settings, indent=1))

    records = read_journal(root)
    next_index = _clean_unjournaled_shards(root, records)
    done = {r["file"] for r in records}
    todo = [s for s in sources if in_shard(s.relative.as_posix(), shard)]
    total_in_shard = len(todo)
    todo = [s for s in todo if s.relative.as_posix() not in done]
    if records:
        log.info("resuming: %d files already done, %d to go", len(done), len(todo))
    if not sources:
        raise NoInputError("no MIDI files to prepare: the input is empty")
    if not total_in_shard:
        log.warning("shard %d/%d holds none of the %d files", shard[0], shard[1], len(sources))

    writer = ShardWriter(root, shard_windows, next_index)
    tasks = ((s, config.data, eval_fraction, max_windows_per_file) for s in todo)
    bar = tqdm(
        total=total_in_shard,
        initial=total_in_shard - len(todo),
        unit="file",
        disable=not progress,
        desc="prepare",
    )
    windows_so_far = sum(r.get("windows", 0) for r in records)
    for result in ordered_map(_prepare_task, tasks, workers):
        record = {
            "file": result.relative,
            "sha1": result.sha1,
            "split": result.split,
            "windows": result.windows,
        }
        if result.error:
            record["error"] = result.error
        if result.reason:
            record["reason"] = result.reason
        writer.add(record, result.tokens)
        windows_so_far += result.windows
        bar.update(1)
        bar.set_postfix(windows=windows_so_far, refresh=False)
        if writer.due():
            writer.flush()
    writer.flush()
    bar.close()

    manifest = build_manifest(root, settings, time.perf_counter() - start, extra_manifest)
    if manifest["counts"]["windows"]["train"] + manifest["counts"]["windows"]["eval"] == 0:
        log.warning("no file yielded a window for %s", config.name)
    return manifest


def build_manifest(root: Path, settings: dict, elapsed: float, extra: dict | None) -> dict:
    """Summarizes the journal and shards into manifest.json (rewritten on every run)."""
    records = read_journal(root)
    shards = {split: [] for split in SPLITS}
    for split in SPLITS:
        for path in sorted((root / split).glob("shard-*.tokens.npy")):
            n = int(np.load(path, mmap_mode="r").shape[0])
            shards[split].append(
                {"name": f"{split}/{path.name[: -len('.tokens.npy')]}", "windows": n}
            )
    failed = [{"file": r["file"], "error": r["error"]} for r in records if r.get("error")]
    manifest = {
        **settings,
        "counts": {
            "files_read": len(records) - len(failed),
            "files_failed": len(failed),
            "files_with_windows": sum(1 for r in records if r.get("windows")),
            "windows": {s: sum(x["windows"] for x in shards[s]) for s in SPLITS},
            "files": {
                s: sum(1 for r in records if r.get("split") == s and r.get("windows"))
                for s in SPLITS
            },
        },
        "shards": shards,
        "failed": failed,
        "sources": [
            {k: r[k] for k in ("file", "split", "windows", "reason") if r.get(k) is not None}
            for r in records
            if not r.get("error")
        ],
        "elapsed_s": round(elapsed, 3),
        **(extra or {}),
    }
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def resolve_sources(
    inputs: list[str], progress: bool = True, workers: int = 1, rebar_2_4: bool = False
):
    """Inputs -> (sources, extra manifest fields); 'folk' / 'folk:N' is the built-in corpus.

    rebar_2_4 (folk only, opt-in): 2/4 tunes re-barred as 4/4, which Magenta's rules keep.
    """
    from musicvae.corpus import folk

    sources: list[Source] = []
    extra: dict = {}
    plain = []
    for item in inputs:
        if folk.is_folk_spec(item):
            limit = folk.parse_folk_spec(item)
            paths = folk.folk_midi_files(
                limit, workers=workers, progress=progress, rebar_2_4=rebar_2_4
            )
            sources.extend(Source(p, Path(*p.parts[-2:])) for p in paths)
            extra = {"corpus": item, "rebar_2_4": rebar_2_4, "license": folk.FOLK_LICENSE_NOTE}
        else:
            plain.append(item)
    if plain:
        sources.extend(find_midi_files(plain))
    return sources, extra


def prepare(
    config: Config,
    inputs: list[str],
    output: str | os.PathLike,
    *,
    workers: int = 1,
    eval_fraction: float = 0.1,
    max_windows_per_file: int | None = None,
    shard: str | None = None,
    progress: bool = True,
    rebar_2_4: bool = False,
) -> dict:
    """The `prepare` command as a function: MIDI files/folders or 'folk[:N]' -> a dataset in
    `output` (resumed if it exists); `shard` 'i/N' prepares one part. Returns the manifest."""
    sources, extra = resolve_sources(
        inputs, progress=progress, workers=workers, rebar_2_4=rebar_2_4
    )
    return prepare_dataset(
        config,
        sources,
        output,
        workers=workers,
        eval_fraction=eval_fraction,
        max_windows_per_file=max_windows_per_file,
        shard=parse_shard(shard),
        progress=progress,
        extra_manifest=extra,
    )
