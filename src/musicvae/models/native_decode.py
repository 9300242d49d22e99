"""The free-running decode loop of a categorical decoder in one C call (native/decode.c).

At batch 1 a decode step is a few small matrix-vector products; in a torch loop, per-operation
dispatch (~35 small ops per step) costs more than the arithmetic, and at batch 64 the ops
around the products still cost as much as the products. decode.c runs the whole loop, initial
state and sampling included, on torch.get_num_threads() threads (blocks of rows; below 16
rows each step's units split between them). Its threads are torch's own OpenMP pool: built with
-fopenmp and loaded after torch, the library shares torch's libgomp.so.1, whose workers are
awake or spinning after torch's last parallel operation (new threads of its own would wait for
the cores they spin on: measured 11.1 vs 6.6 ms for 64 bf16 rows on 2 cores). fp32 by
default; for the bf16 precision (a CPU bf16 autocast region) it reads bf16 copies of the
weights (mode_of): with fp32 inputs and sums for small batches, where reading the weights is
the bound and bf16 halves it, and as bf16 dot products (AVX-512 BF16) from DOT_MIN_BATCH rows
on, where multiply-adds are the bound and they double. It is compiled at first use with the
system C compiler (`cc -O3 -march=native -ffast-math -pthread -fopenmp`, about a second, with
fallbacks without the last flag or -march=native) into the cache
folder (`$MUSICVAE_CACHE/native`, see files.cache_root) and loaded with ctypes; where no
compiler is found, or with MUSICVAE_NATIVE=0, decoding stays on the torch path. fp32 results
equal the torch path's up to summation order (logits ~1e-6 apart; tokens differ only where two
logits tie that closely); the bf16 modes move logits by bf16 rounding (measured on 1,000 codes
of the bundled model: 99.3-99.6% of argmax tokens equal fp32's, torch's bf16 autocast 98.5%).
`exact_decoding()` forces the torch path (parity tests).
"""

from __future__ import annotations

import contextvars
import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from musicvae.files import cache_root

log = logging.getLogger(__name__)

# Measured on one core at cat-mel_2bar_small sizes (benchmarks/bench_generate.py, and the C loop
# against the torch loop at 1-512 rows): in fp32 the C loop is faster at every batch (1 row: 1.8
# vs 4.7-7.5 ms; 64: 25 vs 66; 512: 210 vs 419), so fp32 decodes of any size take it. For the
# bf16 precision, bf16 dot products (BF16_DOT: 64 rows 13 vs 26 ms for oneDNN's bf16 products,
# 512 rows 129 vs 176) where the CPU has them, from DOT_MIN_BATCH rows on (below, a step is bound
# by reading weights, and fp32 inputs keep the results closer to fp32); on CPUs without them the
# BF16 mode's fp32 multiply-adds lose to oneDNN above BF16_MAX_BATCH rows (128: 56 vs 42 ms).
BF16_MAX_BATCH = 64
DOT_MIN_BATCH = 8
FLAGS = ("-O3", "-march=native", "-ffast-math", "-fPIC", "-shared", "-pthread", "-fopenmp")
# Fallbacks, in order: without OpenMP (threads of its own), without -march=native, neither.
TRIES = (
    FLAGS,
    tuple(f for f in FLAGS if f != "-fopenmp"),
    tuple(f for f in FLAGS if f != "-march=native"),
    tuple(f for f in FLAGS if f not in ("-fopenmp", "-march=native")),
)
SOURCES = ("kernels.h", "decode.c", "lstm.c")  # in models/native; one library of both loops

_EXACT: contextvars.ContextVar[bool] = contextvars.ContextVar("exact_decoding", default=False)

_float_p = ctypes.POINTER(ctypes.c_float)
_int_p = ctypes.POINTER(ctypes.c_int)


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def _sources() -> dict[str, bytes]:
    """The library's source files by name, as installed with the package."""
    folder = resources.files("musicvae.models").joinpath("native")
    return {name: folder.joinpath(name).read_bytes() for name in SOURCES}


def _library_path(sources: dict[str, bytes], compiler: str) -> Path:
    """Where the build of these sources for this machine is cached (-march=native: per CPU)."""
    from musicvae.models.cpu_features import cpu_flags

    key = hashlib.sha256()
    for name, text in sorted(sources.items()):
        key.update(name.encode() + b"\0" + text)
    for part in (compiler.encode(), " ".join(FLAGS).encode(), platform.machine().encode()):
        key.update(part)
    key.update(" ".join(sorted(cpu_flags())).encode())
    return cache_root() / "native" / f"native-{key.hexdigest()[:16]}.so"


def _compile(compiler: str, sources: dict[str, bytes], path: Path) -> bool:
    """Builds the C files of `sources` into the shared library `path` (written atomically);
    False, with the reason logged, where it cannot be built. A compiler that rejects -fopenmp
    or -march=native gets the next of TRIES."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            out = Path(tmp) / path.name
            for name, text in sources.items():
                (Path(tmp) / name).write_bytes(text)
            c_files = [str(Path(tmp) / name) for name in sources if name.endswith(".c")]
            for flags in TRIES:
                run = [compiler, *flags, "-o", str(out), *c_files, "-lm"]
                done = subprocess.run(run, capture_output=True, timeout=120)
                if done.returncode == 0:
                    os.replace(out, path)  # atomic: a concurrent build writes the same bytes
                    return True
            detail = done.stderr.decode(errors="replace")[-300:]
    except (OSError, subprocess.SubprocessError) as e:
        detail = str(e)
    log.info("could not build the C loops (%s): they run on the torch path", detail)
    return False


def _build() -> ctypes.CDLL | None:
    if os.environ.get("MUSICVAE_NATIVE", "1") == "0":
        return None
    compiler = _compiler()
    if compiler is None:
        log.info("no C compiler found: decoding runs on the torch path")
        return None
    sources = _sources()
    path = _library_path(sources, compiler)
    if not path.exists() and not _compile(compiler, sources, path):
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        log.info("could not load %s (%s): decoding runs on the torch path", path, e)
        return None
    fn = lib.musicvae_decode
    fn.restype = ctypes.c_int
    fn.argtypes = [  # see musicvae_decode in decode.c
        ctypes.c_int,  # mode (FP32, BF16, BF16_DOT)
        ctypes.c_int,  # batch
        ctypes.c_int,  # steps
        ctypes.c_int,  # layers
        _int_p,  # hidden
        ctypes.c_void_p,  # w0x
        ctypes.POINTER(ctypes.c_void_p),  # w
        _float_p,  # b0
        ctypes.POINTER(_float_p),  # b
        _float_p,  # e
        ctypes.c_int,  # esize
        ctypes.c_void_p,  # w_e
        ctypes.c_void_p,  # w_init
        _float_p,  # b_init
        ctypes.POINTER(_float_p),  # h
        ctypes.POINTER(_float_p),  # c
        ctypes.c_void_p,  # w_out
        _float_p,  # b_out
        ctypes.c_int,  # streams
        _int_p,  # depths
        _int_p,  # start
        _float_p,  # uniforms
        ctypes.c_float,  # inv_temperature
        _int_p,  # teacher
        _float_p,  # coins
        ctypes.c_float,  # probability
        _int_p,  # tokens
        _float_p,  # logits
        ctypes.c_int,  # threads
    ]
    return lib


@functools.cache
def library() -> ctypes.CDLL | None:
    """The loaded decode library, built on first use; None where it cannot be had."""
    return _build()


@contextmanager
def switched_on(flag: contextvars.ContextVar[bool]):
    """Sets `flag` for the block (this thread or task): the switches to the torch paths."""
    token = flag.set(True)
    try:
        yield
    finally:
        flag.reset(token)


def exact_decoding():
    """Within the block (this thread or task), decoding runs on the torch path only."""
    return switched_on(_EXACT)


def usable(e: torch.Tensor) -> bool:
    """Whether a decode of conditioning e (B, E) can run natively: CPU, no gradients, and the
    library available. Inside a CPU bf16 autocast region (the bf16 precision) the loop reads
    bf16 copies of the weights (mode_of), in the BF16 mode up to BF16_MAX_BATCH rows."""
    if not (
        e.device.type == "cpu"
        and e.shape[0] > 0
        and e.dtype in (torch.float32, torch.bfloat16)
        and not torch.is_grad_enabled()
        and not _EXACT.get()
        and library() is not None
    ):
        return False
    return mode_of(e) != BF16 or e.shape[0] <= BF16_MAX_BATCH


def _ptr(t: torch.Tensor, kind=_float_p):
    return ctypes.cast(t.data_ptr(), kind)


FP32, BF16, BF16_DOT = 0, 1, 2  # weight modes of decode.c (musicvae_decode's `mode`)


class PreparedWeights:
    """A core decoder's weights in decode.c's layout, made once per version of the weights and
    mode: FP32; BF16 (matrices rounded to bf16, passed as their 16 bits); BF16_DOT (as BF16, the
    step matrices w[l] and w_out in pair layout for bf16 dot products). Biases stay fp32."""

    def __init__(self, core, mode: int) -> None:
        cell, depth = core.cell, core.output_depth
        self.mode = mode
        self.hidden = torch.tensor(cell.hidden_sizes, dtype=torch.int32)
        self.depths = torch.tensor(core.depths, dtype=torch.int32)
        layers = cell.layers
        first = layers[0]
        self.w0x = self._matrix(first.weight_ih_l0[:, :depth].t())  # (D, 4H0)
        self.w = [self._step_matrix(first.weight_hh_l0.t())]  # (H0, 4H0)
        self.b = [(first.bias_ih_l0 + first.bias_hh_l0).contiguous().float()]  # (4H0,)
        self.w_e = self._matrix(first.weight_ih_l0[:, depth:].t())  # (E, 4H0): e's part
        self.w_init = self._matrix(core.initial.weight.t())  # (E, 2 sum H)
        self.b_init = core.initial.bias.contiguous().float()  # (2 sum H,)
        for lstm in layers[1:]:
            w_cat = torch.cat([lstm.weight_ih_l0, lstm.weight_hh_l0], 1)  # (4H, H_prev + H)
            self.w.append(self._step_matrix(w_cat.t()))  # (H_prev + H, 4H)
            self.b.append((lstm.bias_ih_l0 + lstm.bias_hh_l0).contiguous().float())
        self.w_out = self._step_matrix(core.projection.weight.t())  # (H_top, D)
        self.b_out = core.projection.bias.contiguous().float()  # (D,)
        self.w_ptrs = (ctypes.c_void_p * len(self.w))(*[t.data_ptr() for t in self.w])
        self.b_ptrs = (_float_p * len(self.b))(*[_ptr(t) for t in self.b])

    def _matrix(self, w: torch.Tensor) -> torch.Tensor:
        """(K, N) -> fp32, or its bf16 bits in the same layout."""
        w = w.float().contiguous()
        return w.to(torch.bfloat16).view(torch.int16) if self.mode != FP32 else w

    def _step_matrix(self, w: torch.Tensor) -> torch.Tensor:
        """A matrix of every step: BF16_DOT puts (K, N) in pair layout (ceil(K/2), N, 2)."""
        return pair_layout(w) if self.mode == BF16_DOT else self._matrix(w)


def pair_layout(w: torch.Tensor) -> torch.Tensor:
    """(K, N) -> its bf16 bits in the layout of the C bf16 dot products (kernels.h, gemm_dot):
    (ceil(K/2), N, 2), element (k, n) at [k // 2, n, k % 2], an odd K padded with a zero row."""
    k, n = w.shape
    w = w.to(torch.bfloat16)
    if k % 2:
        w = torch.cat([w, w.new_zeros(1, n)])
    return w.view(-1, 2, n).transpose(1, 2).contiguous().view(torch.int16)  # (K/2, N, 2)


def blocked_pair_layout(w: torch.Tensor) -> torch.Tensor:
    """(K, N) -> gemm_dot's blocked pair layout (ceil(N/64), ceil(K/2), 64, 2), bf16 bits: each
    block of 64 outputs contiguous, the last one padded with zero columns."""
    k, n = w.shape
    pad = -n % 64
    if pad:
        w = torch.cat([w, w.new_zeros(k, pad)], 1)
    pairs = pair_layout(w)  # (P, N', 2)
    return pairs.view(pairs.shape[0], -1, 64, 2).transpose(0, 1).contiguous()  # (N'/64, P, 64, 2)


def _weights_key(core) -> tuple:
    """Changes when a weight is replaced or modified in place by an ordinary operation: each
    parameter's storage and version counter (inference tensors, made under
    torch.inference_mode, have none and cannot be modified outside it)."""
    return tuple(
        (p.data_ptr(), None if p.is_inference() else p._version) for p in core.parameters()
    )


class _Samples:
    """A few values spread over each parameter, read live: fused optimizer kernels (Adam's
    fused=True) update parameters without bumping their version counters, but an optimizer
    step moves (nearly) every value. Built once per storage; reading costs a few µs."""

    COUNT = 8  # per parameter

    def __init__(self, params: list[torch.Tensor]) -> None:
        self.views = []
        for p in params:
            flat = p.detach().reshape(-1)
            step = max(1, flat.numel() // self.COUNT)
            if flat.dtype in (torch.float32, torch.float64) and flat.device.type == "cpu":
                self.views.append(flat.numpy()[::step][: self.COUNT])  # shares p's memory
            else:
                self.views.append(flat[::step][: self.COUNT])
        self.snapshot = self.read()

    def read(self) -> bytes:
        return b"".join(
            v.tobytes() if isinstance(v, np.ndarray) else v.float().cpu().numpy().tobytes()
            for v in self.views
        )

    def changed(self) -> bool:
        return self.read() != self.snapshot


def prepared(core, mode: int = FP32) -> PreparedWeights:
    """core's weights for `mode`, made once per version of the weights (storage, version
    counter and sampled values, see _Samples); each mode's copy is kept (a bf16 model switches
    between BF16 and BF16_DOT with the batch size)."""
    key = _weights_key(core)
    cache = core.__dict__.setdefault("_native_weights", {})  # not a parameter or buffer
    entry = cache.get(mode)
    if entry is None or entry[0] != key or entry[1].changed():
        samples = _Samples(list(core.parameters()))  # before the copy: values it was made of
        entry = cache[mode] = (key, samples, PreparedWeights(core, mode))
    return entry[2]


def decode(
    core,
    e: torch.Tensor,
    length: int,
    temperature: float | None,
    start: torch.Tensor | None,
    uniforms: torch.Tensor | None,
    teacher: torch.Tensor | None = None,
    coins: torch.Tensor | None = None,
    probability: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CoreDecoder.sample in one C call: e (B, E) -> samples (B, T, D) one-hot, logits (B, T, D).

    `start` (B, D) one-hot per stream or None (zeros); `uniforms` (B, T, S) in [0, 1) for
    sampling at `temperature`, None for argmax. Scheduled sampling (CoreDecoder.scheduled):
    `teacher` (B, T, D) inputs and `coins` (B, T): step t + 1 reads the row's own sample of
    step t where coins[:, t] < probability, else teacher[:, t + 1]. Callers check `usable(e)`.
    """
    mode = mode_of(e)  # read the autocast state before leaving it
    with torch.autocast("cpu", enabled=False):
        return _decode(
            core, e.float(), length, temperature, start, uniforms, teacher, coins, probability, mode
        )


def mode_of(e: torch.Tensor) -> int:
    """The weights' mode for a decode of e (B, E): FP32, or for the bf16 precision BF16 below
    DOT_MIN_BATCH rows (bound by reading weights: fp32 inputs cost nothing there) and BF16_DOT
    from there on (bound by multiply-adds, which bf16 dot products double) where the CPU has
    them."""
    from musicvae.models.fused_lstm import matmul_dtype  # fused_lstm imports this module

    if matmul_dtype(e.device) != torch.bfloat16:
        return FP32
    if e.shape[0] >= DOT_MIN_BATCH and library().musicvae_bf16_dot():
        return BF16_DOT
    return BF16


def _tokens(one_hot: torch.Tensor, depths: tuple[int, ...]) -> torch.Tensor:
    """(..., D) one-hot per stream -> (..., S) int32 token indices, -1 where a stream is zeros."""
    parts = one_hot.split(depths, dim=-1)
    return torch.stack([torch.where(p.amax(-1) > 0, p.argmax(-1), -1) for p in parts], -1).to(
        torch.int32
    )


def _decode(core, e, length, temperature, start, uniforms, teacher, coins, probability, mode):
    lib = library()
    w = prepared(core, mode)
    batch, depth, streams = e.shape[0], core.output_depth, len(core.depths)
    e = e.contiguous()  # (B, E)
    b0 = torch.empty(batch, 4 * core.cell.hidden_sizes[0])  # filled in C, as is the state
    h = [torch.empty(batch, size) for size in core.cell.hidden_sizes]
    c = [torch.empty(batch, size) for size in core.cell.hidden_sizes]
    if start is None:
        start_tokens = torch.full((batch, streams), -1, dtype=torch.int32)
    else:
        start_tokens = _tokens(start, core.depths).contiguous()  # (B, S)
    teacher_tokens = None
    if teacher is not None:
        teacher_tokens = _tokens(teacher, core.depths).contiguous()  # (B, T, S)
        coins = coins.contiguous().float()  # (B, T)
    tokens = torch.empty(batch, length, streams, dtype=torch.int32)
    logits = torch.empty(batch, length, depth)
    if uniforms is not None:
        uniforms = uniforms.contiguous().float()
        inv_t = 1.0 / float(temperature)
    else:
        inv_t = 1.0
    h_ptrs = (_float_p * len(h))(*[_ptr(t) for t in h])
    c_ptrs = (_float_p * len(c))(*[_ptr(t) for t in c])
    status = lib.musicvae_decode(
        w.mode, batch, length, len(h), _ptr(w.hidden, _int_p),
        w.w0x.data_ptr(), w.w_ptrs, _ptr(b0), w.b_ptrs,
        _ptr(e), e.shape[1], w.w_e.data_ptr(), w.w_init.data_ptr(), _ptr(w.b_init),
        h_ptrs, c_ptrs,
        w.w_out.data_ptr(), _ptr(w.b_out),
        streams, _ptr(w.depths, _int_p), _ptr(start_tokens, _int_p),
        _ptr(uniforms) if uniforms is not None else None, inv_t,
        _ptr(teacher_tokens, _int_p) if teacher_tokens is not None else None,
        _ptr(coins) if teacher_tokens is not None else None, float(probability),
        _ptr(tokens, _int_p), _ptr(logits), torch.get_num_threads(),
    )  # fmt: skip
    if status != 0:
        raise MemoryError("native decode: out of memory")
    samples = torch.zeros(batch, length, depth)
    offset = 0
    for s, d in enumerate(core.depths):
        samples[..., offset : offset + d].scatter_(-1, tokens[..., s : s + 1].long(), 1.0)
        offset += d
    return samples.to(e.dtype), logits
