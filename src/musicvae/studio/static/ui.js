// Shared parts of the Studio page: DOM helpers, the API, clip cards, playback, the shelf, and
// slots (pick a melody by sampling, uploading a MIDI file or from the shelf).
import * as audio from "./audio.js";
import { drawRoll } from "./roll.js";

export const $ = (sel, root = document) => root.querySelector(sel);
export const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
};

export const state = {
  models: [],
  limits: {},
  model: null, // the current model's info
  shelf: [],
  nextId: 1,
  playingCards: [],
  playingIndex: -1,
};
window.studio = state; // for tests and curious users

// ------------------------------------------------------------------ status and API

export function status(text, error = false) {
  const bar = $("#status");
  bar.textContent = text;
  bar.classList.toggle("error", error);
}

export async function api(path, body = null, { raw = false } = {}) {
  const init = body === null ? {} : body instanceof FormData
    ? { method: "POST", body }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return raw ? response : response.json();
}

export async function guarded(what, fn) {
  status(`${what}…`);
  try {
    const result = await fn();
    return result;
  } catch (error) {
    status(`${what}: ${error.message}`, true);
    return undefined;
  }
}

export function bpm() {
  const value = Number($("#tempo").value);
  return Math.min(240, Math.max(40, Number.isFinite(value) && value > 0 ? value : 110));
}

export function temperature(input) {
  const v = Number(input.value);
  return v === 0 ? null : v;
}

export function bindTemperature(id) {
  const input = $(`#${id}`);
  const out = $(`#${id}-out`);
  const show = () => (out.textContent = Number(input.value) === 0 ? "argmax" : Number(input.value).toFixed(2));
  input.addEventListener("input", show);
  show();
  return input;
}

// ------------------------------------------------------------------ clips

export function notesOf(clip) {
  return clip.notes.map((n) => ({
    pitch: n.pitch, start: n.start, end: n.end, velocity: n.velocity,
    program: n.program, is_drum: n.is_drum, instrument: n.instrument,
  }));
}

// A clip as the API takes it back: notes, and its code when this model made it.
export function clipIn(clip) {
  return clip.z && clip.model === state.model?.id ? { notes: notesOf(clip), z: clip.z } : { notes: notesOf(clip) };
}

export function clipName(clip) {
  return (clip.label || "clip").replace(/\s+/g, "_");
}

export async function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

export async function downloadMidi(clip) {
  await guarded("MIDI", async () => {
    const response = await api("/api/midi", {
      name: clipName(clip), notes: notesOf(clip), kind: clip.kind || "melody",
      steps_per_quarter: clip.steps_per_quarter || 4,
    }, { raw: true });
    await downloadBlob(await response.blob(), `${clipName(clip)}.mid`);
    status(`downloaded ${clipName(clip)}.mid`);
  });
}

export function markPlaying(cards) {
  state.playingCards.forEach((c) => c && c.classList.remove("playing"));
  state.playingCards = cards;
  state.playingIndex = -1;
}

export async function playClips(clips, cards, { loop = false } = {}) {
  await guarded("play", async () => {
    await audio.play(clips, { bpm: bpm(), loop });
    markPlaying(cards);
    showPlaying(0);
    status(`playing ${clips.length > 1 ? `${clips.length} clips` : clips[0].label || "clip"} at ${bpm()} bpm`);
  });
}

// Highlight the sounding card (index into state.playingCards; -1 = none).
export function showPlaying(index) {
  state.playingIndex = index;
  state.playingCards.forEach((c, i) => c && c.classList.toggle("playing", i === index));
  refreshPlayButtons();
}

export function stopAll() {
  audio.stop();
  markPlaying([]);
  refreshPlayButtons();
}

export function refreshPlayButtons() {
  document.querySelectorAll("button.play").forEach((b) => {
    const playing = audio.isPlaying() && b.closest(".clip")?.classList.contains("playing");
    b.innerHTML = playing ? "&#9632; Stop" : "&#9654; Play";
    b.classList.toggle("on", Boolean(playing));
  });
}

// A card: title, roll, play/stop, MIDI, keep (and extra buttons).
export function clipCard(clip, { extra = [], keep = true, small = false } = {}) {
  const canvas = el("canvas", { class: "roll" });
  const playhead = el("div", { class: "playhead" });
  const card = el("div", { class: "clip", "data-testid": "clip" });
  const play = el("button", {
    class: "small play", "data-testid": "play",
    onclick: () => (card.classList.contains("playing") && audio.isPlaying()
      ? stopAll() : playClips([clip], [card])),
  }, "▶ Play");
  const actions = el("div", { class: "clip-actions" }, play,
    el("button", { class: "small", "data-testid": "midi", onclick: () => downloadMidi(clip) }, "⤓ MIDI"),
    keep ? el("button", { class: "small", "data-testid": "keep", onclick: () => keepClip(clip) }, "☆ Keep") : null,
    ...extra);
  card.append(
    el("div", { class: "clip-title" }, el("b", {}, clip.label || "clip"),
      el("span", {}, `${clip.notes.length} notes`)),
    el("div", { class: "roll-wrap" }, canvas, playhead),
    actions,
  );
  if (small) canvas.style.height = "64px";
  card.clip = clip;
  card.playhead = playhead;
  requestAnimationFrame(() => drawRoll(canvas, clip));
  card.redraw = () => drawRoll(canvas, clip);
  return card;
}

// ------------------------------------------------------------------ shelf

export function keepClip(clip) {
  const kept = { ...clip, label: `${clip.label || "clip"}`, shelfId: state.nextId++ };
  state.shelf.push(kept);
  renderShelf();
  status(`kept ${kept.label} (${state.shelf.length} on the shelf)`);
}

export function renderShelf() {
  const list = $("#shelf-list");
  list.replaceChildren();
  $("#shelf-count").textContent = state.shelf.length;
  $("#shelf-zip").disabled = state.shelf.length === 0;
  if (!state.shelf.length) {
    list.append(el("p", { class: "empty" }, "Press ☆ Keep on any clip to collect it here."));
  }
  for (const clip of state.shelf) {
    const remove = el("button", {
      class: "small", title: "Remove from the shelf",
      onclick: () => {
        state.shelf = state.shelf.filter((c) => c.shelfId !== clip.shelfId);
        renderShelf();
      },
    }, "✕");
    list.append(clipCard(clip, { keep: false, extra: [remove], small: true }));
  }
  document.querySelectorAll("select.shelf-pick").forEach(fillShelfPick);
}

export async function exportShelf() {
  await guarded("zip", async () => {
    const clips = state.shelf.map((c, i) => ({
      name: `${String(i + 1).padStart(2, "0")}_${clipName(c)}`, notes: notesOf(c),
      kind: c.kind || "melody", steps_per_quarter: c.steps_per_quarter || 4,
    }));
    const response = await api("/api/export", { clips }, { raw: true });
    await downloadBlob(await response.blob(), "musicvae-shelf.zip");
    status(`downloaded musicvae-shelf.zip (${clips.length} clips, MIDI + piano rolls)`);
  });
}

export function fillShelfPick(select) {
  const keep = select.value;
  select.replaceChildren(el("option", { value: "" }, "From shelf…"));
  for (const clip of state.shelf.filter((c) => c.model === state.model?.id)) {
    select.append(el("option", { value: String(clip.shelfId) }, clip.label));
  }
  select.value = keep;
}

// ------------------------------------------------------------------ slots (pick a melody)

// A slot holds one clip, chosen by sampling, uploading a MIDI file (then a window by its
// bars) or from the shelf; onChange(clip) is called when it changes.
export function makeSlot(container, onChange) {
  const title = container.dataset.title;
  const slot = { clip: null, container, set: null };
  const body = el("div", { class: "slot-body" });
  const file = el("input", { type: "file", accept: ".mid,.midi,audio/midi", class: "file-input", "data-testid": "upload" });
  const windows = el("select", { class: "windows", hidden: true, "data-testid": "windows" });
  const shelfPick = el("select", { class: "shelf-pick" });
  fillShelfPick(shelfPick);
  let uploaded = [];

  function set(clip) {
    slot.clip = clip;
    body.replaceChildren(clip ? clipCard(clip, { keep: true }) : el("div", { class: "empty-roll" },
      "Sample, drop a MIDI file here, or pick from the shelf"));
    onChange(clip);
  }
  slot.set = set;

  async function upload(f) {
    const form = new FormData();
    form.append("file", f);
    form.append("model", state.model.id);
    const result = await guarded(`upload ${f.name}`, () => api("/api/upload", form));
    if (!result) return;
    uploaded = result.windows;
    windows.replaceChildren(...uploaded.map((w, i) => el("option", { value: String(i) }, w.label)));
    windows.hidden = false;
    set(uploaded[0]);
    status(`${result.name}: ${uploaded.length} windows of ${state.model.bars} bars; choose one by its bars`);
  }

  file.addEventListener("change", () => file.files[0] && upload(file.files[0]));
  windows.addEventListener("change", () => set(uploaded[Number(windows.value)]));
  shelfPick.addEventListener("change", () => {
    const clip = state.shelf.find((c) => String(c.shelfId) === shelfPick.value);
    if (clip) set(clip);
    shelfPick.value = "";
  });
  container.addEventListener("dragover", (e) => { e.preventDefault(); container.classList.add("drag"); });
  container.addEventListener("dragleave", () => container.classList.remove("drag"));
  container.addEventListener("drop", (e) => {
    e.preventDefault();
    container.classList.remove("drag");
    if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
  });

  const sampleButton = el("button", {
    class: "small", "data-testid": "slot-sample",
    onclick: async () => {
      const result = await guarded("sample", () => api("/api/sample", {
        model: state.model.id, n: 1, temperature: 0.5,
      }));
      if (result) {
        result.clips[0].label = `${title}: sample (seed ${result.seed})`;
        set(result.clips[0]);
        status(`sampled ${title} (seed ${result.seed})`);
      }
    },
  }, "Sample");
  const uploadButton = el("button", { class: "small", onclick: () => file.click() }, "⇪ MIDI file");
  container.replaceChildren(
    el("div", { class: "slot-head" }, el("b", {}, title),
      el("div", { class: "slot-tools" }, sampleButton, uploadButton, shelfPick)),
    file, windows, body,
  );
  set(null);
  return slot;
}
