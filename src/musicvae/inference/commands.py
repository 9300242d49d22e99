"""The generation subcommands of `musicvae` (sample, interpolate, reconstruct, encode,
attributes compute / apply): each loads the model, calls the TrainedModel API, writes files into
its output folder (MIDI, piano-roll PNG, WAV when FluidSynth is there) and prints what it wrote.
The parser lives in musicvae/cli.py; errors are ValueErrors, which the CLI prints on one line
with exit code 2.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

import numpy as np

from musicvae.inference.trained_model import TrainedModel, check_count
from musicvae.music.notes import NoteSequence

# ------------------------------------------------------------------ shared steps


def load_model(args) -> TrainedModel:
    """--model, or the bundled folk melody model when it is not given."""
    from musicvae.inference.bundled import bundled_model_dir

    return TrainedModel.load(args.model or bundled_model_dir(), device=args.device)


def output_dir(path: str | os.PathLike) -> Path:
    """The output folder, created and checked writable before any work."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"cannot write to output folder {path}: {e.strerror or e}") from None
    return path


def seed_of(args) -> int:
    """--seed, or a fresh one (print_seed shows it, so the run can be repeated)."""
    if args.seed is None:
        args.seed = secrets.randbelow(2**31)
        args.seed_drawn = True
    return args.seed


def print_seed(args) -> None:
    if getattr(args, "seed_drawn", False):
        print(f"seed {args.seed} (pass --seed {args.seed} to repeat this run)")


def _write_outputs(seq: NoteSequence, out_stem: Path, kind: str, audio: bool) -> dict[str, Path]:
    """One result: <stem>.mid, its piano roll <stem>.png and, with FluidSynth, <stem>.wav."""
    from musicvae.render import render_outputs

    try:
        return render_outputs(seq, out_stem, kind, title=out_stem.name, audio=audio)
    except OSError as e:
        raise ValueError(f"cannot write {out_stem}.*: {e.strerror or e}") from None


def write_all(
    model: TrainedModel, named: list[tuple[str, NoteSequence]], folder: Path, args
) -> None:
    """Write each (stem, sequence) and print one line per result (and how to get audio)."""
    audio = not getattr(args, "no_audio", False)
    wrote_audio = False
    for stem, seq in named:
        files = _write_outputs(seq, folder / stem, model.config.data.kind, audio)
        wrote_audio |= "wav" in files
        print("  " + "  ".join(str(p) for p in files.values()))
    if audio and named and not wrote_audio:
        from musicvae.render import audio_available

        print(f"note: no WAVs: {audio_available()[1]}")


def pick_window(
    model: TrainedModel, path: str, window: int | None, option: str, other: str = ""
) -> np.ndarray:
    """The one window of an input file (or window `window` of several) -> (T, D_in)."""
    windows = model.windows(path)
    count = len(windows)
    if window is None and count > 1:
        raise ValueError(
            f"{path}: {count} windows of {model.config.data.slice_bars} bars; choose one with "
            f"{option} K (0..{count - 1}){other}; `musicvae reconstruct {path}` writes them all"
        )
    index = 0 if window is None else window
    if not 0 <= index < count:
        raise ValueError(f"{path}: {option} {index} is out of range 0..{count - 1}")
    return windows.inputs[index].astype(np.float32)


def _stem(path: str) -> str:
    return Path(path).stem.replace(" ", "_") or "input"


# ------------------------------------------------------------------ commands


def cmd_sample(args) -> int:
    model = load_model(args)
    folder = output_dir(args.output)
    seed = seed_of(args)
    sequences = model.sample(args.n, args.length, args.temperature, args.same_z, seed)
    print(
        f"{model.config.name}: {len(sequences)} samples, temperature {args.temperature}, "
        f"in {folder}"
    )
    write_all(model, [(f"sample_{i:03d}", s) for i, s in enumerate(sequences)], folder, args)
    print_seed(args)
    return 0


def cmd_interpolate(args) -> int:
    check_count(args.steps, "num_steps", 2)  # before any work
    model = load_model(args)
    folder = output_dir(args.output)
    seed = seed_of(args)
    start = pick_window(model, args.start, args.start_window, "--start-window")
    end = pick_window(model, args.end, args.end_window, "--end-window")
    sequences = model.interpolate(
        start, end, args.steps, args.method, temperature=args.temperature, seed=seed
    )
    print(
        f"{model.config.name}: {len(sequences)} steps ({args.method}) from {args.start} to "
        f"{args.end} in {folder}"
    )
    write_all(model, [(f"interp_{i:03d}", s) for i, s in enumerate(sequences)], folder, args)
    print_seed(args)
    return 0


def cmd_reconstruct(args) -> int:
    model = load_model(args)
    folder = output_dir(args.output)
    seed = seed_of(args)
    decoded = model.reconstruct(args.inputs, args.temperature, seed)
    stems: set[str] = set()
    for k, (path, recons) in enumerate(zip(args.inputs, decoded, strict=True)):
        originals = model.window_sequences(path)
        stem = _stem(path) if _stem(path) not in stems else f"{_stem(path)}_{k}"
        stems.add(stem)  # two inputs named alike do not overwrite each other
        print(f"{path}: {len(recons)} windows reconstructed in {folder}")
        named = []
        for i, (orig, recon) in enumerate(zip(originals, recons, strict=True)):
            named += [(f"{stem}_w{i:03d}_input", orig), (f"{stem}_w{i:03d}_recon", recon)]
        write_all(model, named, folder, args)
    print_seed(args)
    return 0


def cmd_encode(args) -> int:
    model = load_model(args)
    folder = output_dir(args.output)
    seed = seed_of(args)
    windows, entries = [], []
    for path in args.inputs:
        if args.all_windows:
            found = model.windows(path).inputs.astype(np.float32)
            windows += list(found)
            entries += [{"input": path, "window": k} for k in range(len(found))]
        else:
            windows.append(
                pick_window(model, path, args.window, "--window", " or take all with --all-windows")
            )
            entries.append({"input": path, "window": args.window or 0})
    z, mu, sigma = model.encode(np.stack(windows), seed=seed)
    for entry, zi, mi, si in zip(entries, z, mu, sigma, strict=True):
        entry.update(z=zi.tolist(), mu=mi.tolist(), sigma=si.tolist())
    for name, array in (("z", z), ("mu", mu), ("sigma", sigma)):
        np.save(folder / f"{name}.npy", array)
    info = {"model": str(args.model), "config": model.config.name, "seed": seed, "codes": entries}
    (folder / "codes.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{model.config.name}: {len(z)} codes of {model.z_size} dims in {folder}")
    for name in ("z.npy", "mu.npy", "sigma.npy", "codes.json"):
        print(f"  {folder / name}")
    print_seed(args)
    return 0


def cmd_attributes_compute(args) -> int:
    from musicvae.data.dataset import WindowDataset
    from musicvae.inference.attributes import attribute_vectors, save_vectors

    if args.max_windows is not None and args.max_windows < 4:
        raise ValueError(f"--max-windows must be at least 4 (quartiles), got {args.max_windows}")
    model = load_model(args)
    output = Path(args.output)
    output_dir(output.parent if str(output.parent) else ".")
    dataset = WindowDataset(args.data, args.split, model.config)
    count = len(dataset)
    if args.max_windows is not None and args.max_windows < count:
        rng = np.random.default_rng(args.seed or 0)
        indices = np.sort(rng.choice(count, args.max_windows, replace=False))
    else:
        indices = np.arange(count)
    vectors, summaries = attribute_vectors(model, dataset.tokens(indices), args.attributes)
    info = {
        "model": str(args.model),
        "config": model.config.name,
        "data": str(args.data),
        "split": args.split,
        "windows": len(indices),
        "summaries": summaries,
    }
    save_vectors(output, vectors, info)
    print(f"{model.config.name}: attribute vectors from {len(indices)} {args.split} windows")
    print(f"  {'attribute':18s} {'bottom quartile':>15s} {'top quartile':>13s} {'|vector|':>9s}")
    for name, s in summaries.items():
        print(
            f"  {name:18s} {s['bottom_mean']:15.3f} {s['top_mean']:13.3f} {s['vector_norm']:9.3g}"
        )
    print(f"  {output}")
    return 0


def cmd_attributes_apply(args) -> int:
    from musicvae.inference.attributes import ATTRIBUTES, attribute_sweep

    if args.attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {args.attribute!r}; valid: {', '.join(ATTRIBUTES)}")
    model = load_model(args)
    vectors = args.vectors
    if vectors is None:
        if args.model is not None:
            raise ValueError(
                "--vectors is required with --model (make them with `musicvae attributes compute`)"
            )
        from musicvae.inference.bundled import bundled_vectors

        vectors = bundled_vectors()
    model.load_attribute_vectors(vectors)
    folder = output_dir(args.output)
    seed = seed_of(args)
    window = pick_window(model, args.input, args.window, "--window")
    _, mu, _ = model.encode(window[None])
    amounts = [0.0] + [a for a in args.amount if a != 0.0]
    sequences, measured = attribute_sweep(
        model, mu[0], args.attribute, amounts, args.temperature, seed
    )
    values = measured[args.attribute]
    print(f"{model.config.name}: {args.input} moved along {args.attribute} in {folder}")
    named = []
    for amount, seq, value in zip(amounts, sequences, values, strict=True):
        label = "recon" if amount == 0 else f"{args.attribute}_{amount:+g}"
        named.append((f"{_stem(args.input)}_{label}", seq))
        change = "" if amount == 0 else f" ({_percent(values[0], value)})"
        print(f"  amount {amount:+g}: {args.attribute} = {value:.3f}{change}")
    write_all(model, named, folder, args)
    print_seed(args)
    return 0


def _percent(before: float, after: float) -> str:
    if before == 0:
        return "from 0"
    return f"{100.0 * (after - before) / abs(before):+.0f}%"
