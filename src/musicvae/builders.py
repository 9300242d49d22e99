"""Builders: the one place that reads a Config to make parts (audiocraft's builders.py habit).

Modules never read the config: a converter takes its data settings, a model its sizes. The
converter builder lives beside the converters (musicvae.data.converters.build_converter) so
that data/ never imports models/; it is re-exported here with the model builder.
"""

from __future__ import annotations

from musicvae.configs import Config
from musicvae.data.converters import build_converter
from musicvae.models.vae import MusicVAE


def build_model(config: Config) -> MusicVAE:
    """The MusicVAE of a config: depths from its converter, sizes from its hparams."""
    hp = config.hparams
    converter = build_converter(config.data)
    return MusicVAE(
        input_depth=converter.input_depth,
        depths=tuple(converter.stream_depths),
        z_size=hp.z_size,
        enc_rnn_size=hp.enc_rnn_size,
        dec_rnn_size=hp.dec_rnn_size,
        level_lengths=config.level_lengths,
        free_bits=hp.free_bits,
    )


__all__ = ["build_converter", "build_model"]
