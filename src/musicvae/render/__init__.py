"""What people look at and listen to: piano-roll PNGs, WAVs via FluidSynth, an HTML page."""

from musicvae.render.audio import audio_available, render_wav
from musicvae.render.outputs import render_many, render_outputs
from musicvae.render.page import write_page
from musicvae.render.pianoroll import piano_roll_image, piano_roll_png, roll_layout

__all__ = [
    "audio_available",
    "piano_roll_image",
    "piano_roll_png",
    "render_many",
    "render_outputs",
    "render_wav",
    "roll_layout",
    "write_page",
]
