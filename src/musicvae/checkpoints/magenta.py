"""Magenta MusicVAE TF checkpoint -> our MusicVAE: a name table plus small named transforms.

Every checkpoint variable is either consumed by one rule of the table or explicitly skipped
(optimizer state: Adam slots, global_step, beta1_power, beta2_power); every shape is asserted
before anything is copied. Variable names are those of Magenta's graphs (lstm_models.py,
lstm_utils.py; listed in ../shared/magenta-golden/vars_<config>.txt).
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from musicvae.builders import build_model
from musicvae.checkpoints.tf_checkpoint import read_tf_checkpoint
from musicvae.configs import CONFIG_MAP, Config, HParams
from musicvae.models.decoders import CoreDecoder, FlatDecoder, HierarchicalDecoder
from musicvae.models.lstm import LSTMStack
from musicvae.models.vae import MusicVAE

Shape = tuple[int, ...]

# Written by the TF1 training graph (music_vae_train.py: Adam, global step), not the model.
SKIPPED = re.compile(r"^(global_step|beta1_power|beta2_power|.*/Adam(_1)?)$")


class CheckpointMismatchError(ValueError):
    """A checkpoint whose variables do not fit the model of the requested config."""


# ---------------------------------------------------------------- transforms


@dataclasses.dataclass(frozen=True)
class Transform:
    """Source arrays -> target tensors; `source_shapes` derives the TF shapes that the
    target shapes require (so that a mismatch is reported in the checkpoint's terms);
    `invert` maps target tensors back to the source arrays (export)."""

    name: str
    apply: Callable[..., tuple[np.ndarray, ...]]
    source_shapes: Callable[..., tuple[Shape, ...]]
    invert: Callable[..., tuple[np.ndarray, ...]]


def _dense_kernel(kernel: np.ndarray) -> tuple[np.ndarray]:
    return (kernel.T,)  # tf.layers.dense kernel (in, out) -> nn.Linear weight (out, in)


def _lstm_block_cell(kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, ...]:
    """LSTMBlockCell kernel (in + H, 4H) [i, j, f, o] + bias (4H,) -> one nn.LSTM layer
    (weight_ih, weight_hh, bias_ih with the forget bias 1.0 folded in, bias_hh = 0)."""
    hidden = kernel.shape[1] // 4
    t = LSTMStack.tf_kernel_to_torch(
        torch.from_numpy(kernel), torch.from_numpy(bias), kernel.shape[0] - hidden
    )
    return tuple(t[k].numpy() for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))


def _lstm_block_cell_inverse(w_ih, w_hh, b_ih, b_hh) -> tuple[np.ndarray, ...]:
    """One nn.LSTM layer -> LSTMBlockCell (kernel, bias): forget bias 1.0 taken out again."""
    layer = types.SimpleNamespace(  # the attributes LSTMStack.torch_to_tf_kernel reads
        hidden_size=w_hh.shape[1],
        weight_ih_l0=torch.from_numpy(w_ih),
        weight_hh_l0=torch.from_numpy(w_hh),
        bias_ih_l0=torch.from_numpy(b_ih),
        bias_hh_l0=torch.from_numpy(b_hh),
    )
    kernel, bias = LSTMStack.torch_to_tf_kernel(layer)
    return kernel.numpy(), bias.numpy()


def _lstm_source_shapes(w_ih: Shape, w_hh: Shape, b_ih: Shape, b_hh: Shape) -> tuple[Shape, ...]:
    return (w_ih[1] + w_hh[1], w_ih[0]), (b_ih[0],)


IDENTITY = Transform("identity", lambda x: (x,), lambda s: (s,), lambda x: (x,))
DENSE_KERNEL = Transform("dense_kernel", _dense_kernel, lambda s: (s[::-1],), _dense_kernel)
LSTM_BLOCK_CELL = Transform(
    "lstm_block_cell", _lstm_block_cell, _lstm_source_shapes, _lstm_block_cell_inverse
)


@dataclasses.dataclass(frozen=True)
class Rule:
    """TF variable(s) -> our state_dict entries through one named transform."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    transform: Transform


def _dense(tf_scope: str, module: str) -> list[Rule]:
    return [
        Rule((f"{tf_scope}/kernel",), (f"{module}.weight",), DENSE_KERNEL),
        Rule((f"{tf_scope}/bias",), (f"{module}.bias",), IDENTITY),
    ]


def _lstm(tf_scope: str, module: str, suffix: str = "") -> Rule:
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    return Rule(
        (f"{tf_scope}/lstm_cell/kernel", f"{tf_scope}/lstm_cell/bias"),
        tuple(f"{module}.{n}{suffix}" for n in names),
        LSTM_BLOCK_CELL,
    )


# ---------------------------------------------------------------- the name table


def _core_rules(tf_scope: str, module: str, core: CoreDecoder) -> list[Rule]:
    """BaseLstmDecoder variables (lstm_models.py: z_to_initial_state, multi_rnn_cell,
    output_projection)."""
    rules = _dense(f"{tf_scope}/z_to_initial_state", f"{module}.initial")
    for k in range(len(core.cell.layers)):
        rules.append(_lstm(f"{tf_scope}/multi_rnn_cell/cell_{k}", f"{module}.cell.layers.{k}"))
    return rules + _dense(f"{tf_scope}/output_projection", f"{module}.projection")


def name_table(model: MusicVAE) -> list[Rule]:
    """The rules that fill every parameter of `model` from Magenta's variable names."""
    rules: list[Rule] = []
    for k in range(len(model.encoder.layers)):
        scope = f"encoder/cell_{k}/bidirectional_rnn/{{}}/multi_rnn_cell/cell_0"
        rules.append(_lstm(scope.format("fw"), f"encoder.layers.{k}"))
        rules.append(_lstm(scope.format("bw"), f"encoder.layers.{k}", suffix="_reverse"))
    rules += _dense("encoder/mu", "posterior.mu") + _dense("encoder/sigma", "posterior.sigma")
    decoder = model.decoder
    if isinstance(decoder, FlatDecoder):
        rules += _core_rules("decoder", "decoder.core", decoder.core)
    elif isinstance(decoder, HierarchicalDecoder):
        level = "decoder/hierarchical_level_0"
        rules += _dense(f"{level}/initial_state", "decoder.conductor_initial")
        for k in range(len(decoder.conductor.layers)):
            rules.append(_lstm(f"{level}/cell_{k}", f"decoder.conductor.layers.{k}"))
        if len(decoder.cores) == 1:  # HierarchicalLstmDecoder(CategoricalLstmDecoder)
            rules += _core_rules("core_decoder/decoder", "decoder.cores.0", decoder.cores[0])
        else:  # MultiLstmDecoder: one variable scope per stream
            for i, core in enumerate(decoder.cores):
                scope = f"core_decoder/core_decoder_{i}/decoder"
                rules += _core_rules(scope, f"decoder.cores.{i}", core)
    else:
        raise TypeError(f"no Magenta name table for {type(decoder).__name__}")
    return rules


def magenta_variable_shapes(model: MusicVAE) -> dict[str, Shape]:
    """The TF variable names and shapes a Magenta checkpoint of this model holds
    (trainable variables only; works on a model built on the meta device)."""
    params = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    shapes: dict[str, Shape] = {}
    for rule in name_table(model):
        expected = rule.transform.source_shapes(*(params[t] for t in rule.targets))
        shapes.update(zip(rule.sources, expected, strict=True))
    return shapes


# ---------------------------------------------------------------- import


def _fmt(shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check_variables(variables: dict[str, np.ndarray], model: MusicVAE, label: str) -> None:
    """Raise CheckpointMismatchError listing every missing, unexpected or misshapen variable."""
    expected = magenta_variable_shapes(model)
    missing = [
        f"missing variable {name} (expected shape {_fmt(shape)})"
        for name, shape in expected.items()
        if name not in variables
    ]
    unexpected = [
        f"unexpected variable {name} {_fmt(tuple(variables[name].shape))} (no rule consumes it)"
        for name in sorted(variables)
        if name not in expected and not SKIPPED.match(name)
    ]
    misshapen = [
        f"{name}: expected shape {_fmt(shape)}, got {_fmt(tuple(variables[name].shape))}"
        for name, shape in expected.items()
        if name in variables and tuple(variables[name].shape) != shape
    ]
    problems = missing + unexpected + misshapen
    if problems:
        more = [f"... and {len(problems) - 12} more"] if len(problems) > 12 else []
        raise CheckpointMismatchError(
            f"checkpoint does not match {label}: {len(missing)} missing, {len(unexpected)} "
            f"unexpected, {len(misshapen)} misshapen variable(s):\n  "
            + "\n  ".join(problems[:12] + more)
        )


def import_magenta_checkpoint(variables: dict[str, np.ndarray], config: Config) -> MusicVAE:
    """A float32 MusicVAE of `config` (on the CPU) holding a Magenta checkpoint's weights."""
    with torch.device("meta"):  # shapes only: check before allocating, never init randomly
        model = build_model(config)
    check_variables(variables, model, f"config {config.name} ({_sizes(config.hparams)})")
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state: dict[str, torch.Tensor] = {}
    for rule in name_table(model):
        arrays = [np.asarray(variables[s], dtype=np.float32) for s in rule.sources]
        for target, value in zip(rule.targets, rule.transform.apply(*arrays), strict=True):
            if target in state or tuple(value.shape) != shapes[target]:
                raise AssertionError(f"name table bug at {target} ({rule.transform.name})")
            state[target] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    unfilled = sorted(set(shapes) - set(state))
    if unfilled:
        raise AssertionError(f"name table leaves parameters unfilled: {unfilled}")
    model.load_state_dict(state, strict=True, assign=True)  # requires_grad kept from model
    return model


def _sizes(hp: HParams) -> str:
    enc, dec = list(hp.enc_rnn_size), list(hp.dec_rnn_size)
    return f"enc_rnn_size={enc}, dec_rnn_size={dec}, z_size={hp.z_size}"


def load_magenta_checkpoint(
    path: str | Path, config: str | Config, hparams: str = "", verify: bool = True
) -> MusicVAE:
    """Read a Magenta TF checkpoint (prefix, .index, folder or `checkpoint` file) into a
    MusicVAE of `config` (a name or a Config) with Magenta-style `hparams` overrides such as
    'enc_rnn_size=[64,64],dec_rnn_size=[48,48],z_size=32'."""
    if isinstance(config, str):
        config = Config.from_name(config, **HParams.parse(hparams))
    elif hparams:
        hp = config.hparams.override(**HParams.parse(hparams))
        config = dataclasses.replace(config, hparams=hp)
    return import_magenta_checkpoint(read_tf_checkpoint(path, verify=verify), config)


# ---------------------------------------------------------------- export


def export_magenta_variables(model: MusicVAE) -> dict[str, np.ndarray]:
    """The name table run backwards: Magenta's TF variables (float32) holding `model`'s
    weights, in table order (LSTM gates back to [i, j, f, o], forget bias 1.0 taken out)."""
    state = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    expected = magenta_variable_shapes(model)
    out: dict[str, np.ndarray] = {}
    for rule in name_table(model):
        arrays = rule.transform.invert(*(state[t] for t in rule.targets))
        for name, value in zip(rule.sources, arrays, strict=True):
            if tuple(value.shape) != expected[name]:
                raise AssertionError(f"name table bug at {name} ({rule.transform.name})")
            out[name] = np.ascontiguousarray(value, dtype=np.float32)
    return out


# ---------------------------------------------------------------- sizes, support, suggestions

# Structures Magenta can write that musicvae's models do not have: (pattern, what, advice).
UNSUPPORTED = (
    (
        re.compile(r"cudnn|opaque_kernel", re.IGNORECASE),
        "cuDNN LSTM variables",
        "their opaque, cuDNN-specific parameter blobs cannot be mapped to LSTM weights; "
        "re-save the checkpoint from a graph of LSTMBlockCell layers (Magenta's default, "
        "as in every published checkpoint)",
    ),
    (
        re.compile(r"^encoder/hierarchical_level_\d+/"),
        "a hierarchical encoder (Magenta's hier-* configs)",
        "musicvae implements the bidirectional LSTM encoder only",
    ),
    (
        re.compile(r"/nade/"),
        "a NADE output layer (Magenta's nade-* configs)",
        "musicvae implements categorical decoders only",
    ),
)


class UnsupportedCheckpointError(CheckpointMismatchError):
    """A Magenta checkpoint of a structure that musicvae's models do not implement."""


def check_supported(variables: dict[str, np.ndarray]) -> None:
    """Raise UnsupportedCheckpointError naming the first variable of an unsupported kind."""
    for pattern, what, advice in UNSUPPORTED:
        names = [n for n in sorted(variables) if pattern.search(n)]
        if names:
            more = f" and {len(names) - 1} more" if len(names) > 1 else ""
            raise UnsupportedCheckpointError(
                f"checkpoint holds {what} ({names[0]}{more}), which musicvae does not "
                f"support: {advice}"
            )


def _stack_sizes(variables: dict[str, np.ndarray], bias_name: str) -> tuple[int, ...]:
    """Hidden sizes of the LSTM layers whose biases are named bias_name.format(k), k = 0..."""
    sizes: list[int] = []
    while (bias := variables.get(bias_name.format(len(sizes)))) is not None and bias.ndim == 1:
        sizes.append(int(bias.shape[0]) // 4)
    return tuple(sizes)


def infer_hparams(variables: dict[str, np.ndarray]) -> dict:
    """enc_rnn_size, dec_rnn_size and z_size read from a Magenta checkpoint's shapes (those
    found). A hierarchical decoder's conductor and core decoders share dec_rnn_size
    (lstm_models.HierarchicalLstmDecoder builds both from it)."""
    found: dict = {}
    enc = _stack_sizes(
        variables, "encoder/cell_{}/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/bias"
    )
    if enc:
        found["enc_rnn_size"] = enc
    for scope in (
        "decoder/hierarchical_level_0/cell_{}",
        "decoder/multi_rnn_cell/cell_{}",
        "core_decoder/decoder/multi_rnn_cell/cell_{}",
        "core_decoder/core_decoder_0/decoder/multi_rnn_cell/cell_{}",
    ):
        if dec := _stack_sizes(variables, scope + "/lstm_cell/bias"):
            found["dec_rnn_size"] = dec
            break
    mu_bias = variables.get("encoder/mu/bias")
    if mu_bias is not None and mu_bias.ndim == 1:
        found["z_size"] = int(mu_bias.shape[0])
    return found


def config_for_checkpoint(variables: dict[str, np.ndarray], name: str, hparams: str = "") -> Config:
    """Config `name` with the checkpoint's sizes (then explicit Magenta-style `hparams`)."""
    return Config.from_name(name, **{**infer_hparams(variables), **HParams.parse(hparams)})


def fitting_configs(variables: dict[str, np.ndarray], debug: bool = False) -> list[str]:
    """Registered configs whose variable names and shapes fit the checkpoint once its sizes
    are applied (debug-* configs only with `debug`)."""
    fits = []
    for name in CONFIG_MAP:
        if name.startswith("debug-") and not debug:
            continue
        try:
            config = config_for_checkpoint(variables, name)
            with torch.device("meta"):
                check_variables(variables, build_model(config), name)
        except ValueError:  # ConfigError, CheckpointMismatchError, impossible sizes
            continue
        fits.append(name)
    return fits


def import_magenta_variables(
    variables: dict[str, np.ndarray], config: str | Config, hparams: str = ""
) -> tuple[MusicVAE, Config]:
    """Checkpoint variables -> (model, config). A config name takes the checkpoint's sizes;
    a mismatch names the registered configs that would fit."""
    check_supported(variables)
    if isinstance(config, str):
        config = config_for_checkpoint(variables, config, hparams)
    try:
        return import_magenta_checkpoint(variables, config), config
    except CheckpointMismatchError as e:
        fits = [n for n in fitting_configs(variables) if n != config.name]
        hint = (
            f"configs that fit this checkpoint: {', '.join(fits)}"
            if fits
            else "no registered config fits this checkpoint"
        )
        head, _, details = str(e).partition("\n")
        raise CheckpointMismatchError(f"{head.rstrip(':')}; {hint}\n{details}") from None
