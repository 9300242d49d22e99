"""A self-contained HTML page (inline CSS, no external URLs) of rendered outputs.

Every link is relative to the page's folder and must name a file that exists inside it, so the
folder can be zipped, moved or opened from disk as it is.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

PAGE_NAME = "index.html"

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; background: #fafafa; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .3rem; border-bottom: 1px solid #ddd; }
h3 { font-size: .95rem; margin: 0 0 .4rem; font-weight: 600; }
p.note { color: #666; font-size: .9rem; }
.items { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr));
         gap: 1rem; }
.items.wide { grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); }
.item { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: .7rem; }
.item img { display: block; max-width: 100%; height: auto; image-rendering: pixelated; }
.links { display: flex; flex-wrap: wrap; align-items: center; gap: .6rem; margin-top: .4rem;
         font-size: .9rem; }
.links audio { height: 2rem; width: 100%; }
p.model { color: #444; margin-top: 0; }
"""


def _href(folder: Path, value: str | os.PathLike, what: str) -> str:
    """The URL-quoted path of an existing file relative to the page folder (raises otherwise)."""
    path = Path(value)
    path = (path if path.is_absolute() else folder / path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"page link to a missing {what} file: {path}")
    try:
        rel = path.relative_to(folder)
    except ValueError:
        raise ValueError(f"page link outside the page folder {folder}: {path}") from None
    return html.escape(quote(rel.as_posix()), quote=True)


def _item_html(folder: Path, item: dict) -> str:
    for key in ("png", "midi"):
        if not item.get(key):
            raise ValueError(f"page item {item.get('title', '')!r} has no {key!r} file")
    title = str(item.get("title") or Path(item["png"]).stem)
    png, midi = _href(folder, item["png"], "png"), _href(folder, item["midi"], "midi")
    parts = [
        '<div class="item">',
        f"<h3>{html.escape(title)}</h3>",
        f'<img src="{png}" alt="piano roll: {html.escape(title, quote=True)}">',
        '<div class="links">',
    ]
    links = [f'<a href="{midi}" download>MIDI</a>']
    if item.get("wav"):
        wav = _href(folder, item["wav"], "wav")
        parts.append(f'<audio controls preload="none" src="{wav}"></audio>')
        links.append(f'<a href="{wav}" download>WAV</a>')
    parts += links + ["</div>", "</div>"]
    return "\n".join(parts)


def write_page(
    folder: str | os.PathLike,
    sections: list[dict],
    title: str = "MusicVAE",
    note: str = "",
    subtitle: str = "",
) -> Path:
    """Writes <folder>/index.html showing each item's piano roll, audio player and MIDI link.

    `sections`: [{"title": str, "text"?: str, "wide"?: bool, "items": [{"title", "png", "midi",
    "wav"?}]}] (wide: cards twice as wide, for long piano rolls),
    where an item may be `render_outputs(...)`'s dict plus a title; file paths are absolute or
    relative to `folder` and must exist inside it. `subtitle` (e.g. the model) goes under the
    title, `note` (e.g. how to get audio) after it. Cards are laid out in a grid; each links
    its MIDI and, when there is one, its WAV.
    """
    folder = Path(folder).resolve()
    body = [f"<h1>{html.escape(title)}</h1>"]
    if subtitle:
        body.append(f'<p class="model">{html.escape(subtitle)}</p>')
    if note:
        body.append(f'<p class="note">{html.escape(note)}</p>')
    for section in sections:
        body.append("<section>")
        body.append(f"<h2>{html.escape(str(section.get('title', '')))}</h2>")
        if section.get("text"):
            body.append(f"<p>{html.escape(str(section['text']))}</p>")
        body.append('<div class="items wide">' if section.get("wide") else '<div class="items">')
        body += [_item_html(folder, item) for item in section.get("items", ())]
        body += ["</div>", "</section>"]
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
    path = folder / PAGE_NAME
    path.write_text(page, encoding="utf-8")
    return path


__all__ = ["PAGE_NAME", "write_page"]
