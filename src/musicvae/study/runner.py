"""The 16-bar flat vs hierarchical study (issue 11) as resumable stages.

OUT/
  study.json          the study's settings (a rerun must keep them; --steps may grow)
  data/               hierdec-mel_16bar windows of the input (musicvae prepare; resumable)
  runs/<config>/      the two training runs (checkpoint.pt, metrics.jsonl; `--resume` semantics)
  lm/                 the independent melody language model (lm.pt, lm_metrics.jsonl)
  eval/data.json      held-out reference: features, LM log-likelihood, data-space interpolation
  eval/<config>.json  one decoder's measures at its trained step
  report/             report.md, results.json, PNG plots, a few prior samples as MIDI

Every stage checks what is done: a finished dataset is not rebuilt, a run at its step count is
not retrained (a larger --steps continues it), an evaluation is redone only when its model or
the language model changed. Killing the command at any point and rerunning it continues.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from musicvae.configs import Config, get_config

log = logging.getLogger(__name__)

DATA_CONFIG = "hierdec-mel_16bar"  # the windows: Magenta's 16-bar melody data settings
CONFIGS = {"flat": "study-flat-mel_16bar", "hierarchical": "study-hierdec-mel_16bar"}
DEBUG_CONFIGS = {k: f"debug-{v}" for k, v in CONFIGS.items()}


class StudyError(ValueError):
    """A study that cannot run as asked (settings changed, no held-out windows...)."""


@dataclass(frozen=True)
class StudyOptions:
    out: Path
    input: str = "folk"
    steps: int = 2000
    batch: int = 64
    jobs: int = 2  # trainings at once, one torch thread each
    workers: int = 1  # processes that prepare the data
    lm_steps: int = 1000
    eval_windows: int = 1000
    prior_samples: int = 1000
    pairs: int = 100
    attribute_windows: int = 4000
    eval_fraction: float = 0.1
    seed: int = 0
    bf16: bool = False  # bf16 autocast training (musicvae train --bf16); native bf16 CPUs only
    debug: bool = False
    progress: bool = True

    @classmethod
    def debug_sizes(cls, out: Path, **overrides) -> StudyOptions:
        """Tiny sizes: the whole pipeline in well under a minute (tests/study/)."""
        sizes = dict(
            input="folk:200",
            steps=6,
            batch=8,
            jobs=1,
            lm_steps=20,
            eval_windows=24,
            prior_samples=40,
            pairs=4,
            attribute_windows=64,
            eval_fraction=0.3,
            debug=True,
        )
        return cls(out=Path(out), **{**sizes, **overrides})

    @property
    def configs(self) -> dict[str, str]:
        return DEBUG_CONFIGS if self.debug else CONFIGS

    def fixed(self) -> dict:
        """Settings a rerun of the same OUT must keep."""
        keys = ("input", "batch", "eval_fraction", "seed", "bf16", "debug")
        return {k: getattr(self, k) for k in keys} | {"configs": self.configs}


def study_config(name: str, batch: int) -> Config:
    config = get_config(name)
    return replace(config, hparams=config.hparams.override(batch_size=batch))


def _write_json(path: Path, value) -> None:
    from musicvae.files import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(value, indent=1))


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def check_settings(options: StudyOptions) -> None:
    """Records the settings on the first run; a later run with other ones is refused."""
    path = options.out / "study.json"
    fixed = json.loads(json.dumps(options.fixed()))
    previous = _read_json(path)
    if previous is None:
        _write_json(path, fixed)
    elif previous != fixed:
        changed = sorted(k for k in fixed if previous.get(k) != fixed[k])
        raise StudyError(
            f"{options.out} holds a study with other settings ({', '.join(changed)}: "
            f"{', '.join(f'{k}={previous.get(k)!r}' for k in changed)}); rerun with those, "
            "or choose another --out"
        )


# ---------------------------------------------------------------- stages


def prepare_stage(options: StudyOptions) -> Path:
    """The windows of the input, prepared once (resumable: musicvae prepare's journal)."""
    from musicvae.data.prepare import prepare

    data = options.out / "data"
    if not (data / "manifest.json").exists():
        log.info("preparing %s windows of %s in %s", DATA_CONFIG, options.input, data)
        prepare(
            get_config(DATA_CONFIG),
            [options.input],
            data,
            workers=options.workers,
            eval_fraction=options.eval_fraction,
            progress=options.progress,
        )
    counts = json.loads((data / "manifest.json").read_text())["counts"]["windows"]
    if counts["eval"] < 4 or counts["train"] < 4:
        raise StudyError(
            f"{data} holds {counts['train']} training and {counts['eval']} held-out windows; "
            "the study needs more (a larger --input, or another --eval-fraction)"
        )
    return data


def _train_one(name: str, batch: int, data: str, run_dir: str, options: dict, threads: int):
    """One training run, in this process or a spawned one."""
    import torch

    from musicvae.train.loop import TrainOptions, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(threads)
    train(study_config(name, batch), data, run_dir, TrainOptions(**options))


def trained_step(run_dir: Path) -> int:
    from musicvae.train.checkpoint import CHECKPOINT, load_checkpoint

    path = run_dir / CHECKPOINT
    return int(load_checkpoint(path)["step"]) if path.exists() else 0


def train_stage(options: StudyOptions, data: Path) -> dict[str, Path]:
    """Both decoders to options.steps (each resumed from its checkpoint); `jobs` at once."""
    runs = {kind: options.out / "runs" / name for kind, name in options.configs.items()}
    todo = [kind for kind, run in runs.items() if trained_step(run) < options.steps]
    train_options = dict(
        steps=options.steps,
        batch_size=options.batch,
        seed=options.seed,
        log_every=max(1, min(10, options.steps // 5)),
        eval_every=max(1, options.steps // 25),
        eval_batches=4,
        checkpoint_every=max(1, min(50, options.steps // 3)),
        progress=options.progress and options.jobs == 1,
        bf16=options.bf16,
    )
    if not todo:
        return runs
    log.info("training %s to step %d (%d at once)", ", ".join(todo), options.steps, options.jobs)
    # resume only a run that has a checkpoint: the loop refuses --resume without one
    args = [
        (options.configs[k], options.batch, str(data), str(runs[k]),
         {**train_options, "resume": trained_step(runs[k]) > 0}, 1)
        for k in todo
    ]  # fmt: skip
    if options.jobs > 1 and len(todo) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(options.jobs, len(todo)), mp_context=context) as pool:
            for future in [pool.submit(_train_one, *a) for a in args]:
                future.result()
    else:
        for a in args:
            _train_one(*a)
    return runs


def _classes(data: Path, split: str, config: Config) -> np.ndarray:
    from musicvae.data.dataset import WindowDataset
    from musicvae.inference.attributes import classes_of

    ds = WindowDataset(data, split, config)
    return classes_of(ds.tokens(np.arange(len(ds))))  # (N, T)


def held_out(options: StudyOptions, data: Path, config: Config) -> np.ndarray:
    """The held-out windows the study measures on: a seeded subset of eval_windows."""
    classes = _classes(data, "eval", config)
    if len(classes) > options.eval_windows:
        rng = np.random.default_rng([options.seed, 7])
        classes = classes[np.sort(rng.choice(len(classes), options.eval_windows, False))]
    return classes


def lm_stage(options: StudyOptions, data: Path, config: Config) -> Path:
    """The independent language model, on the training split only."""
    from musicvae.study import lm

    folder = options.out / "lm"
    if lm.trained_steps(folder) < options.lm_steps:
        log.info("training the language model to step %d", options.lm_steps)
        sizes = lm.LMConfig(embed=8, hidden=16) if options.debug else lm.LMConfig()
        lm.train_lm(
            _classes(data, "train", config),
            folder,
            options.lm_steps,
            batch=options.batch,
            config=sizes,
            seed=options.seed,
            checkpoint_every=max(1, min(100, options.lm_steps // 2)),
            eval_classes=held_out(options, data, config)[:256],
        )
    return folder


def evaluate_stage(
    options: StudyOptions, data: Path, runs: dict[str, Path], lm_folder: Path, config: Config
) -> dict:
    """The reference and both decoders' measures, each recomputed only when stale."""
    from musicvae.inference.trained_model import TrainedModel
    from musicvae.study import evaluate, lm

    held = held_out(options, data, config)
    lm_step = lm.trained_steps(lm_folder)
    language_model = lm.load_lm(lm_folder)
    folder = options.out / "eval"
    results = {"data": _read_json(folder / "data.json")}
    if results["data"] is None or results["data"]["lm_step"] != lm_step:
        log.info("measuring %d held-out windows", len(held))
        results["data"] = evaluate.reference(
            held, language_model, lm_step, options.pairs, options.seed
        )
        _write_json(folder / "data.json", results["data"])
    train = None
    for kind, run in runs.items():
        step = trained_step(run)
        path = folder / f"{run.name}.json"
        result = _read_json(path)
        if result is None or (result["step"], result["lm_step"]) != (step, lm_step):
            train = _classes(data, "train", config) if train is None else train
            model = TrainedModel.load(run)
            result, samples = evaluate.decoder_measures(
                model, held, train, language_model, options, step, lm_step
            )
            evaluate.write_samples(model, samples, options.out / "report" / "samples" / kind)
            _write_json(path, result)
        results[kind] = result
    return results


def study_facts(options: StudyOptions, data: Path, runs: dict[str, Path]) -> dict:
    """Sizes, data and time of the study, for the report."""
    from musicvae.builders import build_model
    from musicvae.study import report

    manifest = json.loads((data / "manifest.json").read_text())
    facts = {
        "input": options.input,
        "windows": manifest["counts"]["windows"],
        "files": manifest["counts"]["files"],
        "batch": options.batch,
        "bf16": options.bf16,
        "lm_steps": options.lm_steps,
        "debug": options.debug,
        "models": {},
    }
    for kind, run in runs.items():
        config = study_config(options.configs[kind], options.batch)
        model = build_model(config)
        facts["models"][kind] = {
            "config": config.name,
            "parameters": sum(p.numel() for p in model.parameters()),
            "decoder_parameters": sum(p.numel() for p in model.decoder.parameters()),
            "enc_rnn_size": list(config.hparams.enc_rnn_size),
            "dec_rnn_size": list(config.hparams.dec_rnn_size),
            "z_size": config.hparams.z_size,
            "free_bits": config.hparams.free_bits,
            "max_beta": config.hparams.max_beta,
            "steps": trained_step(run),
            "step_seconds": report.step_seconds(run),
        }
    return facts


def run_study(options: StudyOptions, publish: Path | None = None) -> dict:
    """Runs (or continues) every stage; returns the results the report shows. With `publish`,
    the report folder's small files are copied there (for committing)."""
    import torch

    from musicvae.study import report

    options.out.mkdir(parents=True, exist_ok=True)
    check_settings(options)
    data = prepare_stage(options)
    config = study_config(options.configs["hierarchical"], options.batch)
    runs = train_stage(options, data)
    # One thread: on a shared, busy machine torch's spinning worker threads make the many
    # small steps of free-running decoding many times slower (measured: minutes -> hours).
    torch.set_num_threads(1)
    lm_folder = lm_stage(options, data, config)
    results = evaluate_stage(options, data, runs, lm_folder, config)
    results["facts"] = study_facts(options, data, runs)
    folder = options.out / "report"
    report.write_report(folder, results, runs)
    if publish is not None:
        publish = Path(publish)
        publish.mkdir(parents=True, exist_ok=True)
        for path in folder.rglob("*"):
            if path.is_file():
                target = publish / path.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    return results
