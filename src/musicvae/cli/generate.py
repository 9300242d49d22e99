"""sample, interpolate, reconstruct, encode, attributes: parse, call musicvae.inference.generate,
print what was written."""

from __future__ import annotations

import argparse
import sys

from musicvae.cli.common import MODEL_HELP, Command, add_any_program

# musicvae.inference.attributes.ATTRIBUTES, named here so that --help imports no torch (a test
# keeps the two equal).
ATTRIBUTE_NAMES = (
    "c_diatonic",
    "note_density",
    "average_interval",
    "syncopation_16th",
    "syncopation_8th",
)

# ------------------------------------------------------------------ options


def _model_options(p: argparse.ArgumentParser, output: str | None, audio: bool = True) -> None:
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or gpu")
    if output is not None:
        p.add_argument(
            "--output",
            default=output,
            help=f"output folder, new or empty (default: {output})",
        )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run's files in --output (default: refuse a non-empty output)",
    )
    if audio:
        p.add_argument(
            "--no-audio", action="store_true", help="MIDI and piano rolls only (no WAVs)"
        )
    p.add_argument("--seed", type=int, help="makes the run reproducible (default: a fresh one)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (default: on a terminal)")


def _qpm_option(p: argparse.ArgumentParser, default_text: str) -> None:
    p.add_argument("--qpm", type=float, help=f"tempo of the outputs (default: {default_text})")


def _temperature_option(p: argparse.ArgumentParser, default: float | str | None) -> None:
    shown = {None: "argmax", "card": "the model card's recommended one, else 0.5"}.get(
        default, default
    )
    p.add_argument(
        "--temperature",
        type=float,
        # "card" is resolved by the library; argparse would parse a string default as a float
        default=argparse.SUPPRESS if default == "card" else default,
        help=f"0 = argmax (default: {shown})",
    )


def _common(args) -> dict:
    """The keyword arguments every generation function takes from the model options."""
    common = dict(model=args.model, device=args.device, seed=args.seed)
    if hasattr(args, "overwrite"):
        common["overwrite"] = args.overwrite
    common["progress"] = False if args.quiet else None  # None: bars on a terminal only
    return common


# ------------------------------------------------------------------ printing


def _print_files(result) -> None:
    for files in result.files:
        print("  " + "  ".join(str(p) for p in files.values()))
    _print_notes(result)


def _print_notes(result) -> None:
    if result.audio_missing:
        print(f"note: no WAVs: {result.audio_missing}")
    if result.skipped:
        shown = ", ".join(result.skipped[:5]) + (", ..." if len(result.skipped) > 5 else "")
        print(f"note: {len(result.skipped)} all-rest results not written ({shown})")


def _print_failed(result) -> int:
    """Prints each input that failed; exit code 0 when at least one worked, else 1."""
    for path, error in result.failed:
        line = error if error.startswith(path) else f"{path}: {error}"
        print(f"failed: {line}", file=sys.stderr)
    if result.report is not None:
        print(f"report: {result.report}")
    worked = len(getattr(result, "windows", None) or []) or len(getattr(result, "z", []))
    if not worked:
        print("error: no input worked (see report.json)", file=sys.stderr)
        return 1
    return 0


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
    _temperature_option(p, "card")
    p.add_argument("--length", type=int, help="steps to decode (default: the config's window)")
    p.add_argument("--same-z", action="store_true", help="one code for all samples")
    _qpm_option(p, "120")
    _model_options(p, "musicvae-sample")


def run_sample(args) -> int:
    from musicvae.inference import generate

    result = generate.sample(
        output=args.output,
        n=args.n,
        temperature=getattr(args, "temperature", "card"),
        length=args.length,
        same_z=args.same_z,
        qpm=args.qpm,
        audio=not args.no_audio,
        **_common(args),
    )
    print(
        f"{result.model}: {len(result.files)} samples, "
        f"temperature {result.temperature if result.temperature is not None else 'argmax'}, "
        f"in {result.folder}"
    )
    _print_files(result)
    _print_seed(result)
    return 0


def add_interpolate(p: argparse.ArgumentParser) -> None:
    p.add_argument("start", metavar="A.mid", help="start: a MIDI file")
    p.add_argument("end", metavar="B.mid", help="end: a MIDI file")
    p.add_argument("--steps", type=int, default=8, help="sequences, ends included (2..10000)")
    p.add_argument(
        "--method", choices=("slerp", "lerp"), default="slerp", help="path in latent space"
    )
    p.add_argument(
        "--start-window",
        type=int,
        help="window K of A when it has several (`musicvae windows A.mid` lists them)",
    )
    p.add_argument("--end-window", type=int, help="window K of B when it has several")
    _temperature_option(p, None)
    _qpm_option(p, "the tempo of A, else 120")
    add_any_program(p)
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
        qpm=args.qpm,
        any_program=args.any_program,
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
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help=".mid/.midi files or folders (recursive)"
    )
    _temperature_option(p, None)
    _qpm_option(p, "each input's tempo, else 120")
    add_any_program(p)
    _model_options(p, "musicvae-reconstruct")


def run_reconstruct(args) -> int:
    from musicvae.inference import generate

    result = generate.reconstruct(
        inputs=args.inputs,
        output=args.output,
        temperature=args.temperature,
        qpm=args.qpm,
        any_program=args.any_program,
        audio=not args.no_audio,
        **_common(args),
    )
    for path, count in result.windows:
        print(f"{path}: {count} windows reconstructed in {result.folder}")
    for files in result.files:
        print("  " + "  ".join(str(p) for p in files.values()))
    _print_notes(result)
    _print_seed(result)
    return _print_failed(result)


def add_encode(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help=".mid/.midi files or folders (recursive)"
    )
    p.add_argument("--window", type=int, help="window K of each input when it has several")
    p.add_argument("--all-windows", action="store_true", help="encode every window")
    add_any_program(p)
    _model_options(p, "musicvae-encode", audio=False)


def run_encode(args) -> int:
    from musicvae.inference import generate

    result = generate.encode(
        inputs=args.inputs,
        output=args.output,
        window=args.window,
        all_windows=args.all_windows,
        any_program=args.any_program,
        **_common(args),
    )
    print(f"{result.model}: {len(result.z)} codes of {result.z.shape[1]} dims in {result.folder}")
    for path in result.paths:
        print(f"  {path}")
    _print_seed(result)
    return _print_failed(result)


def add_attributes(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("compute", help="vectors from a prepared dataset -> vectors.npz")
    a.add_argument("--data", required=True, help="dataset folder made by `musicvae prepare`")
    a.add_argument("--output", required=True, help="vectors file to write (.npz)")
    a.add_argument(
        "--split", default="train", choices=("train", "eval"), help="dataset split to read"
    )
    a.add_argument("--max-windows", type=int, help="a random subset of this many windows")
    a.add_argument(
        "--attributes",
        nargs="+",
        choices=ATTRIBUTE_NAMES,
        metavar="NAME",
        help=f"attribute names: {', '.join(ATTRIBUTE_NAMES)} (default: all five)",
    )
    _model_options(a, None, audio=False)
    a = actions.add_parser("apply", help="move an input along an attribute vector (MIDI)")
    a.add_argument("input", metavar="INPUT.mid", help="a MIDI file")
    a.add_argument(
        "--vectors",
        help="vectors.npz from `attributes compute` (default: the attributes.npz beside the "
        "model's weights; the bundled models ship theirs)",
    )
    a.add_argument(
        "--attribute",
        required=True,
        choices=ATTRIBUTE_NAMES,
        metavar="NAME",
        help=f"one of {', '.join(ATTRIBUTE_NAMES)}",
    )
    a.add_argument(
        "--amount", type=float, nargs="+", default=[1.0], help="one or more amounts (default: 1)"
    )
    a.add_argument("--window", type=int, help="window K of the input when it has several")
    _temperature_option(a, None)
    _qpm_option(a, "the input's tempo, else 120")
    add_any_program(a)
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
        qpm=args.qpm,
        any_program=args.any_program,
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
