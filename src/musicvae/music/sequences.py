"""Quantization and splitting of NoteSequences, bit-for-bit as note_seq's sequences_lib does it.

Every float operation below mirrors note_seq (same operands, same order) because the official
checkpoints were trained on tensors produced by that code: a single step rounded differently
changes a window.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from musicvae.music.notes import DEFAULT_QPM, NoteSequence, Tempo, TimeSignature

QUANTIZE_CUTOFF = 0.5  # note_seq.sequences_lib.QUANTIZE_CUTOFF


class QuantizationError(ValueError):
    """Base class of the errors note_seq raises while quantizing."""


class BadTimeSignatureError(QuantizationError):
    pass


class MultipleTimeSignatureError(QuantizationError):
    pass


class MultipleTempoError(QuantizationError):
    pass


class NegativeTimeError(QuantizationError):
    pass


def steps_per_second(steps_per_quarter: int, qpm: float) -> float:
    """note_seq.steps_per_quarter_to_steps_per_second (same operation order)."""
    return steps_per_quarter * qpm / 60.0


def quantize_to_step(seconds, sps: float):
    """Seconds -> steps with note_seq's rounding, int(seconds * sps + 0.5); scalar or array."""
    if isinstance(seconds, np.ndarray):
        # astype truncates toward zero exactly like Python's int().
        return (seconds * sps + (1 - QUANTIZE_CUTOFF)).astype(np.int64)
    return int(seconds * sps + (1 - QUANTIZE_CUTOFF))


def _is_power_of_2(x: int) -> bool:
    return x > 0 and (x & (x - 1)) == 0


def _single_time_signature(seq: NoteSequence) -> TimeSignature:
    if not seq.time_signatures:
        return TimeSignature(0.0, 4, 4)
    ordered = sorted(seq.time_signatures, key=lambda ts: ts.time)
    first = seq.time_signatures[0]  # note_seq compares against the unsorted first entry
    if ordered[0].time != 0 and not (ordered[0].numerator == 4 and ordered[0].denominator == 4):
        raise MultipleTimeSignatureError(
            f"implicit change from 4/4 to {ordered[0].numerator}/{ordered[0].denominator} "
            f"at {ordered[0].time:.2f} s"
        )
    for ts in ordered[1:]:
        if ts.numerator != first.numerator or ts.denominator != first.denominator:
            raise MultipleTimeSignatureError(
                f"time signature changes from {ordered[0].numerator}/{ordered[0].denominator} "
                f"to {ts.numerator}/{ts.denominator} at {ts.time:.2f} s"
            )
    return TimeSignature(0.0, first.numerator, first.denominator)


def _single_tempo(seq: NoteSequence) -> Tempo:
    if not seq.tempos:
        return Tempo(0.0, DEFAULT_QPM)
    ordered = sorted(seq.tempos, key=lambda t: t.time)
    first = seq.tempos[0]
    if ordered[0].time != 0 and ordered[0].qpm != DEFAULT_QPM:
        raise MultipleTempoError(
            f"implicit tempo change from 120.0 to {ordered[0].qpm:.1f} qpm "
            f"at {ordered[0].time:.2f} s"
        )
    for t in ordered[1:]:
        if t.qpm != first.qpm:
            raise MultipleTempoError(
                f"tempo changes from {ordered[0].qpm:.1f} to {t.qpm:.1f} qpm at {t.time:.2f} s"
            )
    return Tempo(0.0, first.qpm)


def quantize(seq: NoteSequence, steps_per_quarter: int) -> NoteSequence:
    """note_seq.quantize_note_sequence: one tempo and one time signature, steps relative to qpm."""
    ts = _single_time_signature(seq)
    if not _is_power_of_2(ts.denominator):
        raise BadTimeSignatureError(
            f"denominator is not a power of 2: {ts.numerator}/{ts.denominator}"
        )
    if ts.numerator == 0:
        raise BadTimeSignatureError(f"numerator is 0: {ts.numerator}/{ts.denominator}")
    tempo = _single_tempo(seq)
    sps = steps_per_second(steps_per_quarter, tempo.qpm)

    total = quantize_to_step(seq.total_time, sps)
    start_step = quantize_to_step(seq.start, sps)  # (N,)
    end_step = quantize_to_step(seq.end, sps)  # (N,)
    end_step[end_step == start_step] += 1
    if len(seq) and (start_step.min() < 0 or end_step.min() < 0):
        raise NegativeTimeError("a note starts or ends at a negative time")
    if len(seq):
        total = max(total, int(end_step.max()))
    return seq.replace(
        time_signatures=(ts,),
        tempos=(tempo,),
        steps_per_quarter=steps_per_quarter,
        start_step=start_step,
        end_step=end_step,
        total_quantized_steps=total,
    )


def steps_per_bar(seq: NoteSequence) -> float:
    """note_seq.steps_per_bar_in_quantized_sequence (a float, as there)."""
    if not seq.is_quantized:
        raise ValueError("sequence is not quantized")
    ts = seq.time_signatures[0]
    quarters_per_bar = (4.0 / ts.denominator) * ts.numerator
    return seq.steps_per_quarter * quarters_per_bar


def _stateful_events_per_piece(events, split_times: list[float]) -> list[list]:
    """Tempos or time signatures of each piece: note_seq._extract_subsequences' state logic.

    The event in force at a piece's start is copied to time 0 of that piece; events strictly
    inside a piece are shifted to piece time.
    """
    n = len(split_times) - 1
    pieces: list[list] = [[] for _ in range(n)]
    previous = None
    index = -1
    for event in sorted(events, key=lambda e: e.time):
        if event.time <= split_times[0]:
            previous = event
            continue
        while index < n and event.time > split_times[index + 1]:
            index += 1
            if index == n:
                break
            if previous is not None:
                pieces[index].append(_at(previous, 0.0))
        if index == n:
            break
        if event.time < split_times[index + 1]:
            pieces[index].append(_at(event, event.time - split_times[index]))
        previous = event
    while index < n - 1:
        index += 1
        if previous is not None:
            pieces[index].append(_at(previous, 0.0))
    return pieces


def _at(event, time: float):
    return dataclasses.replace(event, time=time)


def extract_subsequences(seq: NoteSequence, split_times: list[float]) -> list[NoteSequence]:
    """note_seq._extract_subsequences: pieces between consecutive split times, shifted to 0."""
    if seq.is_quantized:
        raise ValueError("can only split an unquantized sequence")
    if len(split_times) < 2:
        raise ValueError("need at least a start and an end time")
    if any(a > b for a, b in zip(split_times[:-1], split_times[1:], strict=False)):
        raise ValueError("split times must be sorted")
    if any(t >= seq.total_time for t in split_times[:-1]):
        raise ValueError("cannot extract a subsequence past the end of the sequence")
    n = len(split_times) - 1
    order = np.argsort(seq.start, kind="stable")  # sorted(notes, key=start_time) is stable
    start = seq.start[order]
    splits = np.asarray(split_times, dtype=np.float64)
    piece = np.searchsorted(splits, start, side="right") - 1  # (N,)
    keep = (start >= splits[0]) & (piece < n)
    # note_seq stops at the first note past the last split; later notes (sorted) are past too.
    kept = order[keep]
    piece = piece[keep]
    new_start = seq.start[kept] - splits[piece]
    new_end = np.minimum(seq.end[kept], splits[piece + 1]) - splits[piece]

    ts_pieces = _stateful_events_per_piece(seq.time_signatures, split_times)
    tempo_pieces = _stateful_events_per_piece(seq.tempos, split_times)
    out = []
    for k in range(n):
        sel = piece == k
        ends = new_end[sel]
        total = float(ends.max()) if len(ends) else 0.0
        out.append(
            seq.select(
                kept[sel],
                start=new_start[sel],
                end=ends,
                total_time=max(total, 0.0),
                time_signatures=tuple(ts_pieces[k]),
                tempos=tuple(tempo_pieces[k]),
            )
        )
    return out


def split_on_time_changes(seq: NoteSequence) -> list[NoteSequence]:
    """note_seq.split_note_sequence_on_time_changes (skip_splits_inside_notes=False)."""
    split_times = time_change_splits(seq)
    if len(split_times) < 2:
        return []
    return extract_subsequences(seq, split_times)


def time_change_splits(seq: NoteSequence) -> list[float]:
    """The times (s) where split_on_time_changes cuts, file start and end included: piece k
    spans split_times[k]..split_times[k + 1]."""
    changes = sorted(
        list(seq.time_signatures) + list(seq.tempos), key=lambda e: e.time
    )  # stable: time signatures before tempos at equal times, as in note_seq
    changes = [c for c in changes if c.time < seq.total_time]
    numerator, denominator, qpm = 4, 4, DEFAULT_QPM
    split_times = [0.0]
    for change in changes:
        if isinstance(change, TimeSignature):
            if change.numerator == numerator and change.denominator == denominator:
                continue
        elif change.qpm == qpm:
            continue
        if change.time > split_times[-1]:
            split_times.append(change.time)
        if isinstance(change, TimeSignature):
            numerator, denominator = change.numerator, change.denominator
        else:
            qpm = change.qpm
    if seq.total_time > split_times[-1]:
        split_times.append(seq.total_time)
    return split_times
