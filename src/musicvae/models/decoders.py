"""Magenta's decoders: the categorical LSTM decoder (one or several softmax streams) and the
hierarchical "conductor" decoder over shared core decoders (lstm_models.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from musicvae.models import native_decode
from musicvae.models.lstm import LSTMStack, dense


def sample_by_uniform(
    logits: torch.Tensor,
    depths: tuple[int, ...],
    temperature: float | None,
    uniforms: torch.Tensor | None,
) -> torch.Tensor:
    """(B, D) logits -> (B, D) one-hot per stream: argmax when temperature is None or 0, else
    the token where the cumulative softmax(logits / T) first exceeds that stream's uniform
    (uniforms (B, S) in [0, 1)): an exact draw from the softmax, as torch.multinomial makes, but
    from uniforms drawn in advance, so the C decode loop (native_decode) picks the same tokens.
    """
    parts = []
    for k, part in enumerate(logits.split(depths, dim=-1)):  # (B, d) each
        if not temperature:
            index = part.argmax(-1, keepdim=True)  # (B, 1)
        else:
            cdf = torch.cumsum(F.softmax(part.float() / temperature, dim=-1), -1)  # (B, d)
            target = uniforms[:, k : k + 1].to(cdf.dtype) * cdf[:, -1:]  # (B, 1)
            index = torch.searchsorted(cdf, target, right=True).clamp_(max=part.shape[-1] - 1)
        parts.append(torch.zeros_like(part).scatter_(-1, index, 1.0))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


class CoreDecoder(nn.Module):
    """BaseLstmDecoder: an LSTM stack conditioned on an embedding e (z, or a conductor output).

    State0 = split(tanh(Dense(e))) ("z_to_initial_state"); input_t = [y_{t-1} ; e];
    logits_t = Dense(h_top) ("output_projection"). `depths` > 1 stream = MultiOut decoder
    (one LSTM, split softmax).
    """

    def __init__(self, depths: tuple[int, ...], embed_size: int, hidden_sizes: tuple[int, ...]):
        super().__init__()
        self.depths = tuple(depths)
        self.output_depth = sum(self.depths)
        self.cell = LSTMStack(self.output_depth + embed_size, hidden_sizes)
        self.initial = dense(embed_size, self.cell.state_size, stddev=0.001)
        self.projection = dense(hidden_sizes[-1], self.output_depth)

    def initial_state(self, e: torch.Tensor):
        return self.cell.state_from_flat(torch.tanh(self.initial(e)))

    def teacher_forced(self, inputs: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """inputs (B, T, D) (targets shifted right), e (B, E) -> logits (B, T, D)."""
        x = torch.cat([inputs, e.unsqueeze(1).expand(-1, inputs.shape[1], -1)], dim=-1)
        out, _ = self.cell(x, self.initial_state(e))  # (B, T, H)
        return self.projection(out)

    def scheduled(
        self,
        inputs: torch.Tensor,
        e: torch.Tensor,
        probability: float,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Scheduled sampling (ScheduledOutputTrainingHelper): from step 1 on, each sequence
        feeds the model's own sample (softmax, temperature 1) instead of the ground truth with
        `probability`. inputs (B, T, D) -> logits (B, T, D).

        With gradients, two passes: a no-grad free-running pass decides what is fed; then a
        teacher-forced pass over those inputs gives the same logits with gradients. The sampled
        inputs carry no gradient in Magenta either (OneHotCategorical samples), so this is the
        same function, but the costly pass runs whole sequences instead of T small steps.
        """
        if not torch.is_grad_enabled():
            return self._scheduled_steps(inputs, e, probability, generator)[1]
        with torch.no_grad():
            fed, _ = self._scheduled_steps(inputs, e, probability, generator)  # (B, T, D)
        return self.teacher_forced(fed, e)

    def _scheduled_steps(
        self,
        inputs: torch.Tensor,
        e: torch.Tensor,
        probability: float,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The step-by-step pass of `scheduled` -> inputs fed (B, T, D), logits (B, T, D).

        Draws every row's coins (B, T) and uniforms (B, T, streams) first: step t + 1 is fed
        the row's own sample of step t (inverse CDF of the uniform, temperature 1) where its
        coin of step t is below `probability`, else inputs[:, t + 1] (_free_running: in C
        where native_decode.usable, CPU and no gradients, with the same draws)."""
        batch, steps = inputs.shape[:2]
        coins = torch.rand(batch, steps, device=e.device, generator=generator)  # (B, T)
        uniforms = torch.rand(
            batch, steps, len(self.depths), device=e.device, generator=generator
        )  # (B, T, S)
        own, logits = self._free_running(
            e, steps, 1.0, inputs[:, 0], uniforms, inputs, coins, probability
        )  # (B, T, D) each
        take_own = coins[:, :-1, None] < probability  # (B, T - 1, 1): what step t + 1 reads
        fed = torch.where(take_own, own[:, :-1].to(inputs.dtype), inputs[:, 1:])
        return torch.cat([inputs[:, :1], fed], 1), logits

    def sample(
        self,
        e: torch.Tensor,
        length: int,
        temperature: float | None,
        start: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Free-running decode: e (B, E) -> samples (B, T, D) one-hot, logits (B, T, D).

        Sampling at a temperature draws all uniforms first, (B, T, streams) from `generator`,
        and picks each token by inverse CDF (sample_by_uniform). Where native_decode.usable
        (CPU inference, the library built) the whole loop runs in C with the same uniforms;
        elsewhere (gradients, GPUs, exact_decoding) a torch loop.
        """
        uniforms = None
        if temperature:
            uniforms = torch.rand(
                e.shape[0], length, len(self.depths), device=e.device, generator=generator
            )  # (B, T, S)
        return self._free_running(e, length, temperature, start, uniforms)

    def _free_running(
        self, e, length, temperature, start, uniforms, teacher=None, coins=None, probability=0.0
    ):
        """The decode loop with native_decode.decode's arguments -> samples (B, T, D) one-hot
        (the row's own tokens), logits (B, T, D): in C where native_decode.usable, else step by
        step in torch. With `teacher` (B, T, D) and `coins` (B, T), step t + 1 reads the row's
        own sample of step t where coins[:, t] < probability, else teacher[:, t + 1]."""
        if native_decode.usable(e):
            return native_decode.decode(
                self, e, length, temperature, start, uniforms, teacher, coins, probability
            )
        state = self.initial_state(e)
        const = self.cell.constant_input(e, self.output_depth)  # (B, 4H): e's part, once
        weights = self.cell.step_weights(const, self.output_depth)
        x = start if start is not None else e.new_zeros(e.shape[0], self.output_depth)
        samples, logits = [], []
        for t in range(length):
            out, state = self.cell.step(x, state, weights)
            step_logits = self.projection(out)  # (B, D)
            u = None if uniforms is None else uniforms[:, t]
            x = sample_by_uniform(step_logits.detach(), self.depths, temperature, u)
            samples.append(x)
            logits.append(step_logits)
            if teacher is not None and t + 1 < length:
                take_own = coins[:, t, None] < probability  # (B, 1)
                x = torch.where(take_own, x.to(teacher.dtype), teacher[:, t + 1])
        return torch.stack(samples, 1), torch.stack(logits, 1)


class FlatDecoder(nn.Module):
    """CategoricalLstmDecoder / MultiOutCategoricalLstmDecoder conditioned on z."""

    def __init__(self, depths: tuple[int, ...], z_size: int, hidden_sizes: tuple[int, ...]):
        super().__init__()
        self.core = CoreDecoder(depths, z_size, hidden_sizes)
        self.depths = self.core.depths

    def teacher_forced(self, inputs, z, probability=0.0, generator=None):
        if probability > 0:
            return self.core.scheduled(inputs, z, probability, generator)
        return self.core.teacher_forced(inputs, z)

    def sample(self, z, length, temperature, generator=None):
        return self.core.sample(z, length, temperature, generator=generator)


class HierarchicalDecoder(nn.Module):
    """HierarchicalLstmDecoder with level_lengths (U, T/U) and zero conductor inputs.

    The conductor (state0 = split(tanh(Dense(z))), "hierarchical_level_0/initial_state") runs U
    steps on zeros of width 1; its top-layer h c_u conditions one or more shared core decoders
    on bar u (state reset to tanh(Dense(c_u)) every bar). Core decoder k decodes stream k
    (trio: melody, bass, drums) from that stream's previous token.
    """

    def __init__(
        self,
        depths: tuple[int, ...],
        z_size: int,
        level_lengths: tuple[int, ...],
        hidden_sizes: tuple[int, ...],
    ):
        super().__init__()
        if len(level_lengths) != 2:
            raise ValueError(f"only 2-level hierarchies are supported, got {level_lengths}")
        self.level_lengths = tuple(level_lengths)
        self.depths = tuple(depths)
        self.conductor = LSTMStack(1, hidden_sizes)
        self.conductor_initial = dense(z_size, self.conductor.state_size, stddev=0.001)
        embed = hidden_sizes[-1]
        self.cores = nn.ModuleList(CoreDecoder((d,), embed, hidden_sizes) for d in self.depths)

    def conduct(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, Z) -> conductor embeddings (B, U, H)."""
        state = self.conductor.state_from_flat(torch.tanh(self.conductor_initial(z)))
        zeros = z.new_zeros(z.shape[0], self.level_lengths[0], 1)
        out, _ = self.conductor(zeros, state)
        return out

    def teacher_forced(self, inputs, z, probability=0.0, generator=None):
        """inputs (B, T, D) -> logits (B, T, D). All bars of the batch run as one batch of
        B*U independent segments (their first input is the previous bar's last target)."""
        b, t, _ = inputs.shape
        u, seg = self.level_lengths
        c = self.conduct(z).reshape(b * u, -1)  # (B*U, H)
        segments = inputs.reshape(b * u, seg, -1)  # (B*U, T/U, D)
        logits = []
        for core, part in zip(self.cores, segments.split(self.depths, dim=-1), strict=False):
            if probability > 0:
                logits.append(core.scheduled(part, c, probability, generator))
            else:
                logits.append(core.teacher_forced(part, c))
        return torch.cat(logits, dim=-1).reshape(b, t, -1)

    def teacher_forced_by_bar(self, inputs, z):
        """The same logits as teacher_forced, one bar at a time (a reference for tests)."""
        b = inputs.shape[0]
        u, seg = self.level_lengths
        c = self.conduct(z)  # (B, U, H)
        bars = []
        for k in range(u):
            part = inputs[:, k * seg : (k + 1) * seg]
            streams = part.split(self.depths, dim=-1)
            bars.append(
                torch.cat(
                    [
                        core.teacher_forced(s, c[:, k])
                        for core, s in zip(self.cores, streams, strict=False)
                    ],
                    dim=-1,
                )
            )
        return torch.cat(bars, dim=1).reshape(b, u * seg, -1)

    def sample(self, z, length, temperature, generator=None):
        """Bar by bar; each bar starts from the previous bar's last sample."""
        u, seg = self.level_lengths
        if length != u * seg:
            raise ValueError(f"hierarchical decoding needs length {u * seg}, got {length}")
        c = self.conduct(z)  # (B, U, H)
        samples, logits = [], []
        last = [None] * len(self.cores)
        for k in range(u):
            bar_samples, bar_logits = [], []
            for i, core in enumerate(self.cores):
                s, lg = core.sample(c[:, k], seg, temperature, last[i], generator)
                last[i] = s[:, -1]
                bar_samples.append(s)
                bar_logits.append(lg)
            samples.append(torch.cat(bar_samples, -1))
            logits.append(torch.cat(bar_logits, -1))
        return torch.cat(samples, 1), torch.cat(logits, 1)
