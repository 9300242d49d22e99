"""Imported Magenta checkpoints compute what Magenta 2.1.4 computed from the same weights.

Golden: ../shared/magenta-golden/checkpoints/<name>/golden.npz (README there): Magenta's mu,
sigma, kl, teacher-forced logits and r_loss with z = mu, and its decode at temperature 1e-5
(which still samples: near-ties may take the second-best token, so greedy paths are compared up
to and including the first step where Magenta's sample left the argmax).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.checkpoints.magenta import (
    CheckpointMismatchError,
    import_magenta_checkpoint,
    load_magenta_checkpoint,
    magenta_variable_shapes,
)
from musicvae.checkpoints.tf_checkpoint import read_tf_checkpoint
from musicvae.configs import CONFIG_MAP, Config, get_config
from musicvae.errors import CheckpointError
from musicvae.models import native_decode
from musicvae.models.losses import kl_to_standard_normal, reconstruction
from tests.checkpoints import read_vars_file, section
from tests.conftest import shared_path

NAMES = ["mel2_small", "drums2_small", "hierdec_mel16_tiny", "hierdec_trio16_tiny"]
ATOL = 1e-4  # logits, mu, sigma
RTOL_LOSS = 1e-3  # r_loss, kl
NEAR_TIE = 1e-4  # top-2 logit gap reported as a near-tie


@functools.cache
def _load(name: str):
    folder = shared_path("magenta-golden", "checkpoints", name)
    config = (folder / "config.txt").read_text().strip()
    hparams = (folder / "hparams.txt").read_text().strip()
    model = load_magenta_checkpoint(folder / "model.ckpt", config, hparams).eval()
    golden = {k: torch.from_numpy(v) for k, v in np.load(folder / "golden.npz").items()}
    return model, golden


def golden_model(name: str):
    shared_path("magenta-golden", "checkpoints", name)  # skip (not cached) when absent
    return _load(name)


def greedy(model, mu: torch.Tensor, steps: int, path: str):
    """Argmax decode of mu (N, Z) on one decoding path: "torch" (the exact torch loop) or
    "native" (the C loop of native_decode, in batches of 7 and a remainder, so that its 4-row
    blocks and single rows both run; skipped without a compiler), "native-threads" (the whole
    batch in one call, its rows split over 2 threads)."""
    with torch.no_grad():
        if path == "torch":
            with native_decode.exact_decoding():
                return model.decoder.sample(mu, steps, temperature=None)
        if native_decode.library() is None:
            pytest.skip("the native decode loop could not be built here (no C compiler?)")
        if path == "native-threads":  # the whole batch, its rows split over 2 threads
            before = torch.get_num_threads()
            torch.set_num_threads(2)
            try:
                return model.decoder.sample(mu, steps, None)
            finally:
                torch.set_num_threads(before)
        parts = [model.decoder.sample(m, steps, None) for m in mu.split(7)]  # odd batches too
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _max(a: torch.Tensor) -> float:
    return float(a.abs().max()) if a.numel() else 0.0


@pytest.mark.parametrize("name", NAMES)
def test_encoder(name):
    model, g = golden_model(name)
    with torch.no_grad():
        mu, sigma = model.encode(g["inputs"], g["lengths"].long())
    d_mu, d_sigma = _max(mu - g["mu"]), _max(sigma - g["sigma"])
    d_tm = _max(mu - g["tm_mu"]), _max(sigma - g["tm_sigma"])
    print(f"{name}: |mu| diff {d_mu:.2e}, |sigma| diff {d_sigma:.2e}, TrainedModel {d_tm}")
    assert d_mu < ATOL and d_sigma < ATOL and max(d_tm) < ATOL


@pytest.mark.parametrize("name", NAMES)
def test_teacher_forced_logits_and_losses(name):
    model, g = golden_model(name)
    lengths = g["lengths"].long()
    with torch.no_grad():
        logits = model.teacher_forced_logits(g["outputs"], g["mu"])  # (N, T, D)
    valid = torch.arange(logits.shape[1])[None, :] < lengths[:, None]  # (N, T)
    d_logits = _max((logits - g["tf_logits"])[valid])
    r_loss, _, _ = reconstruction(logits, g["outputs"], lengths, model.depths)
    rel_r = _max((r_loss - g["tf_r_loss"]) / g["tf_r_loss"])
    kl = kl_to_standard_normal(g["mu"], g["sigma"])
    rel_kl = _max((kl - g["kl"]) / g["kl"])
    print(
        f"{name}: |tf_logits| diff {d_logits:.2e} (scale {_max(g['tf_logits']):.2f}), "
        f"r_loss rel {rel_r:.2e}, kl rel {rel_kl:.2e}"
    )
    assert d_logits < ATOL
    assert rel_r < RTOL_LOSS and rel_kl < RTOL_LOSS


@pytest.mark.parametrize("path", ["torch", "native", "native-threads"])
@pytest.mark.parametrize("name", [n for n in NAMES if "trio" not in n])
def test_greedy_decoding(name, path):
    """Argmax decoding follows Magenta's path up to and including the first step where
    Magenta's temperature-1e-5 sample left the argmax of its own logits."""
    model, g = golden_model(name)
    steps = g["outputs"].shape[1]
    samples, logits = greedy(model, g["mu"], steps, path)
    ours = samples.argmax(-1)  # (N, T)
    best = g["greedy_logits"].argmax(-1)  # (N, T)
    theirs = g["greedy_samples"].argmax(-1)
    top2 = g["greedy_logits"].topk(2, dim=-1).values
    gap = top2[..., 0] - top2[..., 1]  # (N, T)
    worst, compared, left, ties = 0.0, 0, [], []
    for i in range(len(ours)):
        off = (theirs[i] != best[i]).nonzero()
        end = int(off[0]) + 1 if len(off) else steps
        if len(off):
            left.append((i, end - 1, f"{float(gap[i, end - 1]):.1e}"))
        ties += [(i, int(t), f"{float(gap[i, t]):.1e}") for t in (gap[i] < NEAR_TIE).nonzero()]
        assert torch.equal(ours[i, :end], best[i, :end]), f"sequence {i} leaves the path"
        worst = max(worst, _max(logits[i, :end] - g["greedy_logits"][i, :end]))
        compared += end
    print(
        f"{name}: {compared}/{ours.numel()} steps compared, |logits| diff {worst:.2e}; "
        f"Magenta left argmax at (seq, step, gap) {left}; near-ties {ties}"
    )
    assert worst < ATOL


@pytest.mark.parametrize("path", ["torch", "native", "native-threads"])
def test_trio_samples(path):
    """No golden logits for trio: our argmax samples equal Magenta's per stream up to the first
    difference, and every first difference sits at a near-tie of our own logits (where
    Magenta's temperature-1e-5 sampling can take the second-best token)."""
    model, g = golden_model("hierdec_trio16_tiny")
    steps = g["outputs"].shape[1]
    samples, logits = greedy(model, g["mu"], steps, path)
    report, identical = [], 0
    depths = model.depths
    splits = zip(
        samples.split(depths, -1),
        g["greedy_samples"].split(depths, -1),
        logits.split(depths, -1),
        strict=True,
    )
    for stream, (ours, theirs, lg) in enumerate(splits):
        top2 = lg.topk(2, dim=-1).values
        gap = top2[..., 0] - top2[..., 1]  # (N, T)
        for i in range(len(ours)):
            diff = (ours[i].argmax(-1) != theirs[i].argmax(-1)).nonzero()
            if not len(diff):
                identical += 1
                continue
            first = int(diff[0])
            report.append((i, stream, first, len(diff), f"{float(gap[i, first]):.1e}"))
            assert gap[i, first] < NEAR_TIE, f"sequence {i} stream {stream} step {first}"
    print(
        f"trio: {identical}/{3 * len(samples)} stream paths identical; "
        f"differences (seq, stream, first step, n steps, our top-2 gap): {report}"
    )
    assert identical >= 2 * len(samples)  # melody and bass never hit near-ties here


# ---------------------------------------------------------------- the name table


@pytest.mark.parametrize("config", [c for c in CONFIG_MAP if not c.startswith("debug-")])
def test_name_table_equals_magenta_listing(config):
    """Every registered config's variables are Magenta's names and shapes, in full size."""
    path = shared_path("magenta-golden") / f"vars_{config}.txt"
    if not path.exists():
        pytest.skip(f"the golden set has no variable listing for {config}")
    listed = read_vars_file(path)
    with torch.device("meta"):
        model = build_model(get_config(config))
    assert magenta_variable_shapes(model) == section(listed, "trainable variables")


def test_optimizer_state_is_skipped():
    model, _ = golden_model("mel2_small")
    variables = read_tf_checkpoint(shared_path("magenta-golden", "checkpoints", "mel2_small"))
    for name in list(variables):
        if name != "global_step":
            variables[f"{name}/Adam"] = variables[f"{name}/Adam_1"] = np.zeros(1, np.float32)
    variables["beta1_power"] = variables["beta2_power"] = np.float32(0.9)
    imported = import_magenta_checkpoint(variables, get_config("cat-mel_2bar_small"))
    for k, v in imported.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


@pytest.fixture(scope="module")
def mel2_variables():
    return read_tf_checkpoint(shared_path("magenta-golden", "checkpoints", "mel2_small"))


def test_mismatch_wrong_config(mel2_variables):
    with pytest.raises(CheckpointMismatchError) as e:
        import_magenta_checkpoint(mel2_variables, get_config("cat-drums_2bar_small"))
    msg = str(e.value)
    assert "config cat-drums_2bar_small" in msg
    assert "decoder/output_projection/kernel: expected shape [256, 512], got [256, 90]" in msg
    with pytest.raises(CheckpointMismatchError, match="missing variable decoder/hierarchical"):
        import_magenta_checkpoint(mel2_variables, get_config("hierdec-mel_16bar"))


def test_mismatch_wrong_hparams():
    folder = shared_path("magenta-golden", "checkpoints", "hierdec_mel16_tiny")
    with pytest.raises(CheckpointMismatchError, match=r"expected shape \[2138, 8192\], got"):
        load_magenta_checkpoint(folder, "hierdec-mel_16bar")  # hparams.txt not applied
    hparams = (folder / "hparams.txt").read_text()
    model = load_magenta_checkpoint(folder, Config.from_name("hierdec-mel_16bar"), hparams)
    assert model.z_size == 32 and model.decoder.conductor.hidden_sizes == (48, 48)


def test_mismatch_shape_missing_unexpected(mel2_variables):
    config = get_config("cat-mel_2bar_small")
    wrong = dict(mel2_variables)
    wrong["encoder/mu/bias"] = np.zeros(255, np.float32)
    with pytest.raises(CheckpointMismatchError, match=r"encoder/mu/bias: expected shape \[256\]"):
        import_magenta_checkpoint(wrong, config)
    missing = dict(mel2_variables)
    del missing["decoder/multi_rnn_cell/cell_1/lstm_cell/kernel"]
    with pytest.raises(
        CheckpointMismatchError,
        match=r"missing variable decoder/multi_rnn_cell/cell_1/lstm_cell/kernel "
        r"\(expected shape \[512, 1024\]\)",
    ):
        import_magenta_checkpoint(missing, config)
    extra = dict(mel2_variables)
    extra["decoder/multi_rnn_cell/cell_2/lstm_cell/bias"] = np.zeros(1024, np.float32)
    with pytest.raises(CheckpointMismatchError, match="unexpected variable decoder/multi_rnn"):
        import_magenta_checkpoint(extra, config)


def test_corrupt_checkpoint_file(tmp_path):
    folder = shared_path("magenta-golden", "checkpoints", "mel2_small")
    (tmp_path / "model.ckpt.index").write_bytes((folder / "model.ckpt.index").read_bytes())
    data = (folder / "model.ckpt.data-00000-of-00001").read_bytes()
    (tmp_path / "model.ckpt.data-00000-of-00001").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_magenta_checkpoint(tmp_path, "cat-mel_2bar_small")
