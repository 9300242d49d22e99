"""sample, interpolate, reconstruct, encode, attributes: parse, call musicvae.inference.generate,
print what was written."""

from __future__ import annotations

import argparse

from musicvae.cli.common import Command

# ------------------------------------------------------------------ options


def _model_options(p: argparse.ArgumentParser, output: str | None, audio: bool = True) -> None:
    p.add_argument(
        "--model",
        help="model folder or training run (default: the bundled folk 2-bar melody model)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda (or cuda:N)")
    if output is not None:
        p.add_argument("--output", default=output, help=f"output folder (default: {output})")
    if audio:
        p.add_argument(
            "--no-audio", action="store_true", help="MIDI and piano rolls only (no WAVs)"
        )
    p.add_argument("--seed", type=int, help="makes the run reproducible (default: a fresh one)")


def _temperature_option(p: argparse.ArgumentParser, default: float | None) -> None:
    shown = "argmax" if default is None else default
    p.add_argument(
        "--temperature", type=float, default=default, help=f"0 = argmax (default: {shown})"
    )


def _common(args) -> dict:
    """The keyword arguments every generation function takes from the model options."""
    return dict(model=args.model, device=args.device, seed=args.seed)


# ------------------------------------------------------------------ printing


def _print_files(result) -> None:
    for files in result.files:
        print("  " + "  ".join(str(p) for p in files.values()))
    if result.audio_missing:
        print(f"note: no WAVs: {result.audio_missing}")


def _print_seed(result) -> None:
    if result.seed_drawn:
        print(f"seed {result.seed} (pass --seed {result.seed} to repeat this run)")


def _percent(before: float, after: float) -> str:
    if before == 0:
        return "from 0"
    return f"{100.0 * (after - before) / abs(before):+.0f}%"


# ------------------------------------------------------------------ commands


def add_sample(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=8, help="number of samples (1..10000)")
    _temperature_option(p, 0.5)
    p.add_argument("--length", type=int, help="steps to decode (default: the config's window)")
    p.add_argument("--same-z", action="store_true", help="one code for all samples")
    _model_options(p, "musicvae-sample")


def run_sample(args) -> int:
    from musicvae.inference import generate

    result = generate.sample(
        output=args.output,
        n=args.n,
        temperature=args.temperature,
        length=args.length,
        same_z=args.same_z,
        audio=not args.no_audio,
        **_common(args),
    )
    print(
        f"{result.model}: {len(result.files)} samples, temperature {args.temperature}, "
        f"in {result.folder}"
    )
    _print_files(result)
    _print_seed(result)
    return 0


def add_interpolate(p: argparse.ArgumentParser) -> None:
    p.add_argument("start", metavar="A.mid")
    p.add_argument("end", metavar="B.mid")
    p.add_argument("--steps", type=int, default=8, help="sequences, ends included (2..10000)")
    p.add_argument("--method", choices=("slerp", "lerp"), default="slerp")
    p.add_argument("--start-window", type=int, help="window of A when it has several")
    p.add_argument("--end-window", type=int, help="window of B when it has several")
    _temperature_option(p, None)
    _model_options(p, "musicvae-interpolate")


def run_interpolate(args) -> int:
    from musicvae.inference import generate

    result = generate.interpolate(
        start=args.start,
        end=args.end,
        output=args.output,
        steps=args.steps,
        method=args.method,
        start_window=args.start_window,
        end_window=args.end_window,
        temperature=args.temperature,
        audio=not args.no_audio,
        **_common(args),
    )
    print(
        f"{result.model}: {len(result.files)} steps ({args.method}) from {args.start} to "
        f"{args.end} in {result.folder}"
    )
    _print_files(result)
    _print_seed(result)
    return 0


def add_reconstruct(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT.mid")
    _temperature_option(p, None)
    _model_options(p, "musicvae-reconstruct")


def run_reconstruct(args) -> int:
    from musicvae.inference import generate

    result = generate.reconstruct(
        inputs=args.inputs,
        output=args.output,
        temperature=args.temperature,
        audio=not args.no_audio,
        **_common(args),
    )
    done = 0
    for path, count in result.windows:
        print(f"{path}: {count} windows reconstructed in {result.folder}")
        for files in result.files[done : done + 2 * count]:
            print("  " + "  ".join(str(p) for p in files.values()))
        done += 2 * count
    if result.audio_missing:
        print(f"note: no WAVs: {result.audio_missing}")
    _print_seed(result)
    return 0


def add_encode(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT.mid")
    p.add_argument("--window", type=int, help="window K of each input when it has several")
    p.add_argument("--all-windows", action="store_true", help="encode every window")
    _model_options(p, "musicvae-encode", audio=False)


def run_encode(args) -> int:
    from musicvae.inference import generate

    result = generate.encode(
        inputs=args.inputs,
        output=args.output,
        window=args.window,
        all_windows=args.all_windows,
        **_common(args),
    )
    print(f"{result.model}: {len(result.z)} codes of {result.z.shape[1]} dims in {result.folder}")
    for path in result.paths:
        print(f"  {path}")
    _print_seed(result)
    return 0


def add_attributes(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("compute", help="vectors from a prepared dataset -> vectors.npz")
    a.add_argument("--data", required=True, help="dataset folder made by `musicvae prepare`")
    a.add_argument("--output", required=True, help="vectors file to write (.npz)")
    a.add_argument("--split", default="train", choices=("train", "eval"))
    a.add_argument("--max-windows", type=int, help="a random subset of this many windows")
    a.add_argument("--attributes", nargs="+", help="attribute names (default: all five)")
    _model_options(a, None, audio=False)
    a = actions.add_parser("apply", help="move an input along an attribute vector (MIDI)")
    a.add_argument("input", metavar="INPUT.mid")
    a.add_argument(
        "--vectors",
        help="vectors.npz from `attributes compute` (default: the bundled model's vectors, "
        "when --model is not given)",
    )
    a.add_argument("--attribute", required=True, help="e.g. note_density")
    a.add_argument(
        "--amount", type=float, nargs="+", default=[1.0], help="one or more amounts (default: 1)"
    )
    a.add_argument("--window", type=int, help="window K of the input when it has several")
    _temperature_option(a, None)
    _model_options(a, "musicvae-attributes")


def run_attributes_compute(args) -> int:
    from musicvae.inference import generate

    result = generate.compute_attribute_vectors(
        data=args.data,
        output=args.output,
        split=args.split,
        max_windows=args.max_windows,
        attributes=args.attributes,
        **_common(args),
    )
    print(f"{result.model}: attribute vectors from {result.windows} {result.split} windows")
    print(f"  {'attribute':18s} {'bottom quartile':>15s} {'top quartile':>13s} {'|vector|':>9s}")
    for name, s in result.summaries.items():
        print(
            f"  {name:18s} {s['bottom_mean']:15.3f} {s['top_mean']:13.3f} {s['vector_norm']:9.3g}"
        )
    print(f"  {result.path}")
    return 0


def run_attributes_apply(args) -> int:
    from musicvae.inference import generate

    result = generate.apply_attribute(
        input=args.input,
        attribute=args.attribute,
        output=args.output,
        amounts=args.amount,
        vectors=args.vectors,
        window=args.window,
        temperature=args.temperature,
        audio=not args.no_audio,
        **_common(args),
    )
    name = result.attribute
    print(f"{result.model}: {args.input} moved along {name} in {result.folder}")
    for amount, value in zip(result.amounts, result.values, strict=True):
        change = "" if amount == 0 else f" ({_percent(result.values[0], value)})"
        print(f"  amount {amount:+g}: {name} = {value:.3f}{change}")
    _print_files(result)
    _print_seed(result)
    return 0


ATTRIBUTE_ACTIONS = {"compute": run_attributes_compute, "apply": run_attributes_apply}


def run_attributes(args) -> int:
    return ATTRIBUTE_ACTIONS[args.action](args)


COMMANDS = [
    Command("sample", "decode random codes into new sequences (MIDI)", add_sample, run_sample),
    Command(
        "interpolate",
        "a latent path between two sequences (MIDI)",
        add_interpolate,
        run_interpolate,
    ),
    Command(
        "reconstruct",
        "every window of each input, encoded and decoded",
        add_reconstruct,
        run_reconstruct,
    ),
    Command(
        "encode",
        "latent codes of inputs (z, mu, sigma as .npy and JSON)",
        add_encode,
        run_encode,
    ),
    Command(
        "attributes",
        "melody attribute vectors (the paper's section 5.3)",
        add_attributes,
        run_attributes,
    ),
]
