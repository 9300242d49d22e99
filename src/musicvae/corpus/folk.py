"""The built-in corpus `folk`: the ABC folk tunes shipped inside music21, converted once to MIDI.

About 12,900 monophonic tunes (Essen, O'Neill's, Ryan's Mammoth, Aird's Airs, Nottingham, misc.
folk) are parsed with music21 in worker processes and cached as MIDI under
`<cache>/folk/v1/<collection>/<file>_<index:04d>_X<number>.mid`, so that
`musicvae prepare --input folk` works offline. `folk:N` converts only the first N tunes of a fixed
order (sha1 of the tune id, the same on every machine and Python version), so `folk:5` is a prefix
of `folk:10`. A killed build keeps what it finished; tunes that fail are listed in
`failures.json` and skipped (delete it to retry them); `remarks.json` lists tunes converted with a
caveat (repeats left unexpanded, a meter change music21 lost).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import multiprocessing
import os
import re
import signal
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from musicvae.corpus.abc import AbcError, abc_to_sequence, one_line, split_tunes
from musicvae.files import atomic_write_bytes, cache_root

logger = logging.getLogger(__name__)

# (our short name, music21 corpus folder), in the order the tunes are enumerated.
COLLECTIONS = (
    ("essen", "essenFolksong"),
    ("oneills", "oneills1850"),
    ("ryans", "ryansMammoth"),
    ("airds", "airdsAirs"),
    ("nottingham", "nottingham-dataset"),
    ("misc", "miscFolk"),
)
# Bump when the conversion changes what it writes: old caches then stay where they are.
CACHE_VERSION = "v1"
FAILURES_FILE = "failures.json"
REMARKS_FILE = "remarks.json"
LICENSE_FILE = "LICENSE-music21-corpus.txt"
_BATCH = 4  # tunes per task sent to a worker: fewer round trips, still a smooth progress bar
TUNE_TIME_LIMIT_S = 120  # the slowest tune takes about 5 s; more means music21 is stuck

FOLK_LICENSE_NOTE = (
    "Folk tunes from the music21 corpus (essenFolksong, oneills1850, ryansMammoth, airdsAirs, "
    "nottingham-dataset, miscFolk), converted from ABC to MIDI by musicvae. music21's "
    "corpus/license.txt: the music21 creators assume no copyright or change in licensing for "
    "the corpus; the encodings are distributed with the permission of their encoders and, to "
    "music21's knowledge, each piece is out of copyright in the United States or licensed for "
    "use, but some encodings may not be used commercially or carry other restrictions (see the "
    "licenses of individual files and folders). The Essen Folksong Collection (essenFolksong, "
    "about two thirds of the tunes; ABC encodings by Seymour Shlien) is distributed with "
    "permission for non-commercial distribution and use only (corpus/essenFolksong/license.txt)"
    ": treat data sets built from `folk`, and what is trained on them, as non-commercial."
)


@dataclass(frozen=True)
class FolkTune:
    """One tune of the corpus: where it comes from and its ABC text."""

    collection: str  # our short name, e.g. "oneills"
    stem: str  # the .abc file name without suffix
    index: int  # position of the tune in its file, from 0
    number: str  # its X: field
    text: str = field(repr=False, compare=False)

    @property
    def tune_id(self) -> str:
        return f"{self.collection}/{self.stem}/{self.index}"

    @property
    def relpath(self) -> str:
        """Its MIDI file under the cache folder: `<collection>/<file>_<index>_X<number>.mid`."""
        number = re.sub(r"[^0-9A-Za-z]", "_", self.number)
        return f"{self.collection}/{self.stem}_{self.index:04d}_X{number}.mid"


def is_folk_spec(text: str) -> bool:
    """Whether an `--input` names the built-in corpus: `folk` or `folk:...`."""
    text = text.strip()
    return text == "folk" or text.startswith("folk:")


def parse_folk_spec(text: str) -> int | None:
    """`folk` -> None (every tune), `folk:N` -> N; anything else raises ValueError."""
    text = text.strip()
    if text == "folk":
        return None
    match = re.fullmatch(r"folk:(\d+)", text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            f"{text!r} is not a folk corpus spec: use 'folk' (all tunes) or 'folk:N' "
            "(the first N tunes of a fixed order, N >= 1)"
        )
    return int(match.group(1))


def folk_cache_dir(cache_dir: Path | None = None, *, rebar_2_4: bool = False) -> Path:
    """The folder of the converted tunes; `cache_dir` replaces the cache root when given."""
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    return root / "folk" / (f"{CACHE_VERSION}-rebar-2-4" if rebar_2_4 else CACHE_VERSION)


def music21_corpus_dir() -> Path:
    """music21's corpus folder, found without importing music21 (slow to import)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the folk corpus needs music21: pip install music21")
    return Path(next(iter(spec.submodule_search_locations))) / "corpus"


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _rank(tune_id: str) -> str:
    # sha1, not hash(): Python salts str hashes per process.
    return hashlib.sha1(tune_id.encode("utf-8")).hexdigest()


def folk_tunes(corpus_dir: Path | None = None) -> list[FolkTune]:
    """Every tune of the corpus, in the fixed order of which `folk:N` takes the first N."""
    corpus_dir = Path(corpus_dir) if corpus_dir is not None else music21_corpus_dir()
    tunes = []
    for collection, folder in COLLECTIONS:
        files = sorted((corpus_dir / folder).glob("*.abc"))
        if not files:
            raise FileNotFoundError(
                f"no ABC files in {corpus_dir / folder}: this music21 has no corpus "
                "(reinstall music21 from PyPI, which ships it)"
            )
        for path in files:
            for tune in split_tunes(_read_text(path)):
                tunes.append(FolkTune(collection, path.stem, tune.index, tune.number, tune.text))
    return sorted(tunes, key=lambda t: (_rank(t.tune_id), t.tune_id))


def folk_midi_files(
    limit: int | None = None,
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    rebar_2_4: bool = False,
) -> list[Path]:
    """MIDI files of the first `limit` tunes (all if None), converting those not yet cached.

    Returns paths in the fixed tune order, without the tunes that failed (see `failures.json`
    in `folk_cache_dir(...)`). `workers` processes convert in parallel (default: all CPUs).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    tunes = folk_tunes()[:limit]
    out_dir = folk_cache_dir(cache_dir, rebar_2_4=rebar_2_4)
    failures = _read_json(out_dir / FAILURES_FILE)
    todo = [t for t in tunes if t.tune_id not in failures and not (out_dir / t.relpath).exists()]
    if todo:
        _build(todo, out_dir, workers=workers, progress=progress, rebar_2_4=rebar_2_4)
        failures = _read_json(out_dir / FAILURES_FILE)
    paths = [out_dir / t.relpath for t in tunes if (out_dir / t.relpath).exists()]
    skipped = sum(t.tune_id in failures for t in tunes)
    if skipped:
        logger.info("folk: %d of %d tunes failed (%s)", skipped, len(tunes), FAILURES_FILE)
    return paths


def _build(todo: list[FolkTune], out_dir: Path, *, workers, progress, rebar_2_4) -> None:
    """Converts `todo` into `out_dir`, recording failures and remarks as results come in."""
    out_dir.mkdir(parents=True, exist_ok=True)
    license_text = (music21_corpus_dir() / "license.txt").read_text() + "\n" + FOLK_LICENSE_NOTE
    _write_atomic(out_dir / LICENSE_FILE, license_text.encode("utf-8"))
    failures = _read_json(out_dir / FAILURES_FILE)
    remarks = _read_json(out_dir / REMARKS_FILE)
    tasks = [(t.tune_id, t.text, str(out_dir / t.relpath), rebar_2_4) for t in todo]
    batches = [tasks[i : i + _BATCH] for i in range(0, len(tasks), _BATCH)]
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(batches)))
    bar = tqdm(total=len(tasks), desc="folk: ABC to MIDI", unit="tune", disable=not progress)
    saved, dirty = time.monotonic(), False
    try:
        for results in _run_batches(batches, n_workers):
            for tune_id, failure, remark in results:
                if failure:
                    failures[tune_id] = failure
                if remark:
                    remarks[tune_id] = remark
                dirty |= bool(failure or remark)
            if dirty and time.monotonic() - saved > 5.0:
                _save_reports(out_dir, failures, remarks)
                saved, dirty = time.monotonic(), False
            bar.update(len(results))
    finally:
        bar.close()
        _save_reports(out_dir, failures, remarks)


def _run_batches(batches: list[list[tuple]], n_workers: int):
    """Yields the results of each batch as it finishes, in `n_workers` processes (or this one)."""
    if n_workers == 1:
        yield from map(_convert_batch, batches)
        return
    # spawn, not fork: the caller may hold threads (torch) that fork would copy in a broken
    # state. As with any spawn pool, a calling script needs `if __name__ == "__main__":`.
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        n_workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),)
    )
    try:
        futures = [pool.submit(_convert_batch, batch) for batch in batches]
        for future in as_completed(futures):
            yield future.result()
    finally:
        # On an error or Ctrl-C, drop the queued batches instead of waiting for them.
        pool.shutdown(wait=True, cancel_futures=True)


def _convert_batch(batch: list[tuple[str, str, str, bool]]) -> list[tuple[str, str, str]]:
    with warnings.catch_warnings():
        # music21 warns about every odd ABC token; the failures file is the report that matters.
        warnings.simplefilter("ignore")
        return [_convert_one(task) for task in batch]


def _init_worker(parent_pid: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
    """Ends a worker whose parent was killed (SIGTERM leaves pool workers waiting forever)."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


class _TuneTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: int):
    """Raises _TuneTimeout after `seconds` (where SIGALRM exists and we are the main thread)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise _TuneTimeout(f"gave up after {seconds} s")

    try:
        previous = signal.signal(signal.SIGALRM, on_alarm)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _convert_one(task: tuple[str, str, str, bool]) -> tuple[str, str, str]:
    """Converts one tune to its MIDI file; returns (tune id, failure, remark), each '' if none."""
    from musicvae.music.midi_io import midi_bytes

    tune_id, text, out_path, rebar_2_4 = task
    try:
        with _time_limit(TUNE_TIME_LIMIT_S):
            conversion = abc_to_sequence(text, rebar_2_4=rebar_2_4, source=tune_id)
            data = midi_bytes(conversion.sequence)
    except AbcError as exc:
        return tune_id, str(exc), ""
    except Exception as exc:  # one bad tune must never stop the build
        return tune_id, one_line(exc), ""
    _write_atomic(Path(out_path), data)
    return tune_id, "", "; ".join(conversion.remarks)


def _write_atomic(path: Path, data: bytes) -> None:
    """Writes via a temporary file and a rename, so a killed build leaves no half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data, unique=True)  # several worker processes may write one tune


def _read_json(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def _save_reports(out_dir: Path, failures: dict[str, str], remarks: dict[str, str]) -> None:
    for name, entries in ((FAILURES_FILE, failures), (REMARKS_FILE, remarks)):
        if entries or (out_dir / name).exists():
            text = json.dumps(dict(sorted(entries.items())), indent=1) + "\n"
            _write_atomic(out_dir / name, text.encode("utf-8"))
