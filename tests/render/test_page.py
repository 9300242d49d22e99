"""The demo page: self-contained, every link resolves, titles escaped."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from musicvae.render import audio, render_outputs, write_page
from tests.render.helpers import sequence


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [value for name, value in attrs if name in ("src", "href")]


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """Two rendered melodies without audio, one with a (stand-in) WAV next to it."""
    monkeypatch.setattr(audio, "find_synth", lambda: (None, "no audio: test"))
    folder = tmp_path / "musicvae-demo"
    first = render_outputs(sequence([(60, 0, 4)]), folder / "samples" / "sample 1", "melody")
    second = render_outputs(sequence([(62, 0, 4)]), folder / "sample_2", "melody")
    second["wav"] = folder / "sample_2.wav"
    second["wav"].write_bytes(b"RIFF")
    return folder, first, second


def test_page_links_exist_and_nothing_external(outputs):
    folder, first, second = outputs
    title = '<script>alert("x")</script> & co'
    page = write_page(
        folder,
        [
            {"title": "Samples", "text": "temperature 0.5", "items": [dict(first, title=title)]},
            {"title": "Interpolation", "items": [dict(second, title="step 1")]},
        ],
        note="no audio: <install>",
    )
    assert page == folder.resolve() / "index.html"
    text = page.read_text(encoding="utf-8")
    assert "://" not in text  # no http(s), no CDN: nothing outside the folder
    parser = _Links()
    parser.feed(text)
    assert len(parser.links) == 6  # two PNGs, two MIDIs, one WAV (player and download link)
    for link in parser.links:
        assert (folder / unquote(link)).is_file(), link
    assert "samples/sample%201.png" in parser.links
    assert parser.tags.count("audio") == 1 and parser.tags.count("img") == 2
    assert "<script>" not in text and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "&amp; co" in text and "no audio: &lt;install&gt;" in text
    assert "<link" not in text and "<script" not in text  # CSS inline, no scripts


def test_missing_file_raises(outputs):
    folder, first, _ = outputs
    first["png"].unlink()
    with pytest.raises(FileNotFoundError, match="png"):
        write_page(folder, [{"title": "s", "items": [dict(first, title="a")]}])


def test_file_outside_folder_raises(outputs, tmp_path):
    folder, first, _ = outputs
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"")
    with pytest.raises(ValueError, match="outside"):
        write_page(folder, [{"title": "s", "items": [dict(first, png=outside)]}])


def test_item_without_midi_raises(outputs):
    folder, first, _ = outputs
    with pytest.raises(ValueError, match="midi"):
        write_page(folder, [{"title": "s", "items": [{"title": "a", "png": first["png"]}]}])


def test_relative_paths_resolve_against_folder(outputs):
    folder, first, _ = outputs
    item = {k: Path(v).relative_to(folder) for k, v in first.items()}
    text = write_page(folder, [{"title": "s", "items": [item]}]).read_text(encoding="utf-8")
    assert 'src="samples/sample%201.png"' in text
