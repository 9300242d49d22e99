// MusicVAE Studio page: five views over the JSON API, a shelf of kept clips, playback.
import * as audio from "./audio.js";
import { drawRoll } from "./roll.js";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
};

const state = {
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

function status(text, error = false) {
  const bar = $("#status");
  bar.textContent = text;
  bar.classList.toggle("error", error);
}

async function api(path, body = null, { raw = false } = {}) {
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

async function guarded(what, fn) {
  status(`${what}…`);
  try {
    const result = await fn();
    return result;
  } catch (error) {
    status(`${what}: ${error.message}`, true);
    return undefined;
  }
}

function bpm() {
  const value = Number($("#tempo").value);
  return Math.min(240, Math.max(40, Number.isFinite(value) && value > 0 ? value : 110));
}

function temperature(input) {
  const v = Number(input.value);
  return v === 0 ? null : v;
}

function bindTemperature(id) {
  const input = $(`#${id}`);
  const out = $(`#${id}-out`);
  const show = () => (out.textContent = Number(input.value) === 0 ? "argmax" : Number(input.value).toFixed(2));
  input.addEventListener("input", show);
  show();
  return input;
}

// ------------------------------------------------------------------ clips

function notesOf(clip) {
  return clip.notes.map((n) => ({
    pitch: n.pitch, start: n.start, end: n.end, velocity: n.velocity,
    program: n.program, is_drum: n.is_drum, instrument: n.instrument,
  }));
}

function clipName(clip) {
  return (clip.label || "clip").replace(/\s+/g, "_");
}

async function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

async function downloadMidi(clip) {
  await guarded("MIDI", async () => {
    const response = await api("/api/midi", {
      name: clipName(clip), notes: notesOf(clip), kind: clip.kind || "melody",
      steps_per_quarter: clip.steps_per_quarter || 4,
    }, { raw: true });
    await downloadBlob(await response.blob(), `${clipName(clip)}.mid`);
    status(`downloaded ${clipName(clip)}.mid`);
  });
}

function markPlaying(cards) {
  state.playingCards.forEach((c) => c && c.classList.remove("playing"));
  state.playingCards = cards;
  state.playingIndex = -1;
}

async function playClips(clips, cards, { loop = false } = {}) {
  await guarded("play", async () => {
    await audio.play(clips, { bpm: bpm(), loop });
    markPlaying(cards);
    showPlaying(0);
    status(`playing ${clips.length > 1 ? `${clips.length} clips` : clips[0].label || "clip"} at ${bpm()} bpm`);
  });
}

// Highlight the sounding card (index into state.playingCards; -1 = none).
function showPlaying(index) {
  state.playingIndex = index;
  state.playingCards.forEach((c, i) => c && c.classList.toggle("playing", i === index));
  refreshPlayButtons();
}

function stopAll() {
  audio.stop();
  markPlaying([]);
  refreshPlayButtons();
}

function refreshPlayButtons() {
  document.querySelectorAll("button.play").forEach((b) => {
    const playing = audio.isPlaying() && b.closest(".clip")?.classList.contains("playing");
    b.innerHTML = playing ? "&#9632; Stop" : "&#9654; Play";
    b.classList.toggle("on", Boolean(playing));
  });
}

// A card: title, roll, play/stop, MIDI, keep (and extra buttons).
function clipCard(clip, { extra = [], keep = true, small = false } = {}) {
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

function keepClip(clip) {
  const kept = { ...clip, label: `${clip.label || "clip"}`, shelfId: state.nextId++ };
  state.shelf.push(kept);
  renderShelf();
  status(`kept ${kept.label} (${state.shelf.length} on the shelf)`);
}

function renderShelf() {
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

async function exportShelf() {
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

function fillShelfPick(select) {
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
function makeSlot(container, onChange) {
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

// ------------------------------------------------------------------ Generate

async function generate() {
  const n = Math.max(1, Math.min(state.limits.max_samples || 16, Number($("#gen-n").value) || 4));
  const seedText = $("#gen-seed").value.trim();
  const body = { model: state.model.id, n, temperature: temperature($("#gen-temp")) ?? 0 };
  if (seedText) body.seed = Number(seedText);
  const bars = Number($("#gen-bars").value) || state.model.bars;
  if (bars !== state.model.bars) body.length = (bars * state.model.steps) / state.model.bars;
  const result = await guarded("sample", () => api("/api/sample", body));
  if (!result) return;
  const grid = $("#gen-results");
  grid.replaceChildren(...result.clips.map((clip) => {
    clip.label = `${clip.label} · seed ${result.seed}`;
    return clipCard(clip);
  }));
  status(`${result.clips.length} samples from ${state.model.id} (seed ${result.seed})`);
}

// ------------------------------------------------------------------ Interpolate

const interp = { a: null, b: null, clips: [], cards: [] };

async function interpolate() {
  if (!interp.a.clip || !interp.b.clip) {
    status("interpolate: choose melody A and melody B first", true);
    return;
  }
  const steps = Math.max(2, Math.min(state.limits.max_steps || 16, Number($("#int-steps").value) || 7));
  const result = await guarded("interpolate", () => api("/api/interpolate", {
    model: state.model.id, start: notesOf(interp.a.clip), end: notesOf(interp.b.clip),
    steps, method: $("#int-method").value, temperature: temperature($("#int-temp")),
  }));
  if (!result) return;
  result.clips.forEach((clip) => (clip.label = `${clip.label} · α ${clip.alpha.toFixed(2)}`));
  interp.clips = result.clips;
  interp.cards = result.clips.map((clip) => clipCard(clip));
  $("#int-results").replaceChildren(...interp.cards);
  status(`${steps} steps (${$("#int-method").value}) from A to B; ▶ Play path plays them in order`);
}

// ------------------------------------------------------------------ Blend pad

const blend = { slots: [], codes: [null, null, null, null], x: 0.5, y: 0.5, clip: null,
  inFlight: false, pending: false, card: null, requests: 0 };
window.studioBlend = blend;

async function encodeCorner(index, clip) {
  blend.codes[index] = null;
  if (!clip) return;
  const result = await guarded("encode corner", () => api("/api/encode", {
    model: state.model.id, clips: [notesOf(clip)],
  }));
  if (result) {
    blend.codes[index] = result.codes[0];
    if (blend.codes.every(Boolean)) {
      status("four corners ready: drag the point");
      requestBlend();
    }
  }
}

function placePoint() {
  const point = $("#pad-point");
  point.style.left = `${blend.x * 100}%`;
  point.style.top = `${blend.y * 100}%`;
}

async function requestBlend() {
  if (!blend.codes.every(Boolean)) return;
  if (blend.inFlight) {
    blend.pending = true;
    return;
  }
  blend.inFlight = true;
  $("#pad").classList.add("busy");
  const x = blend.x;
  const y = blend.y;
  const result = await guarded("blend", () => api("/api/blend", {
    model: state.model.id, corners: blend.codes, x, y, temperature: temperature($("#blend-temp")),
  }));
  blend.inFlight = false;
  $("#pad").classList.remove("busy");
  if (result) {
    blend.requests += 1;
    const clip = result.clip;
    clip.label = `blend (${x.toFixed(2)}, ${y.toFixed(2)})`;
    blend.clip = clip;
    blend.card = clipCard(clip);
    $("#blend-out").replaceChildren(blend.card);
    if (audio.isPlaying() && blend.looping) {
      audio.replaceLoop(clip, bpm());
      markPlaying([blend.card]);
      showPlaying(0);
    }
    status(`blend at (${x.toFixed(2)}, ${y.toFixed(2)})`);
  }
  if (blend.pending) {
    blend.pending = false;
    requestBlend();
  }
}

function bindPad() {
  const pad = $("#pad");
  let dragging = false;
  const move = (event) => {
    const box = pad.getBoundingClientRect();
    blend.x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    blend.y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
    placePoint();
    requestBlend();
  };
  pad.addEventListener("pointerdown", (e) => {
    dragging = true;
    pad.setPointerCapture(e.pointerId);
    move(e);
  });
  pad.addEventListener("pointermove", (e) => dragging && move(e));
  pad.addEventListener("pointerup", () => (dragging = false));
  placePoint();
}

async function fillCorners() {
  const result = await guarded("sample corners", () => api("/api/sample", {
    model: state.model.id, n: 4, temperature: 0.5,
  }));
  if (!result) return;
  result.clips.forEach((clip, i) => {
    clip.label = `${blend.slots[i].container.dataset.title}: sample`;
    blend.slots[i].set(clip);
  });
}

async function toggleBlendLoop() {
  if (blend.looping && audio.isPlaying()) {
    blend.looping = false;
    stopAll();
    $("#blend-play").innerHTML = "&#9654; Loop";
    return;
  }
  if (!blend.clip) {
    status("blend: fill the four corners first", true);
    return;
  }
  await playClips([blend.clip], [blend.card], { loop: true });
  blend.looping = true;
  $("#blend-play").innerHTML = "&#9632; Stop loop";
}

// ------------------------------------------------------------------ Attributes

const attrs = { slot: null, sliders: {}, result: null };

function renderSliders() {
  const box = $("#attr-sliders");
  box.replaceChildren();
  attrs.sliders = {};
  const names = state.model?.attributes || [];
  if (!names.length) {
    box.append(el("p", { class: "empty" }, `${state.model?.id} has no attribute vectors (melody models with attributes.npz only).`));
    return;
  }
  for (const name of names) {
    const input = el("input", { type: "range", min: "-3", max: "3", step: "0.1", value: "0", "data-testid": `attr-${name}` });
    const out = el("output", {}, "0.0");
    input.addEventListener("input", () => (out.textContent = Number(input.value).toFixed(1)));
    input.addEventListener("change", () => applyAttributes());
    attrs.sliders[name] = input;
    box.append(el("div", { class: "slider-row" }, el("span", {}, name.replace(/_/g, " ")), input, out));
  }
}

async function applyAttributes() {
  if (!attrs.slot.clip) {
    status("attributes: choose a melody first", true);
    return;
  }
  const amounts = {};
  for (const [name, input] of Object.entries(attrs.sliders)) amounts[name] = Number(input.value);
  const result = await guarded("attributes", () => api("/api/attributes", {
    model: state.model.id, notes: notesOf(attrs.slot.clip), amounts,
    temperature: temperature($("#attr-temp")),
  }));
  if (!result) return;
  const moved = Object.entries(amounts).filter(([, v]) => v !== 0)
    .map(([k, v]) => `${k} ${v > 0 ? "+" : ""}${v}`).join(", ") || "reconstruction";
  result.clip.label = `moved: ${moved}`;
  const rows = Object.keys(result.before).map((name) => {
    const b = result.before[name];
    const a = result.after[name];
    const cls = a > b + 1e-9 ? "up" : a < b - 1e-9 ? "down" : "";
    return el("tr", {}, el("td", {}, name.replace(/_/g, " ")), el("td", {}, b.toFixed(3)),
      el("td", { class: cls }, a.toFixed(3)));
  });
  const table = el("table", { class: "measures" },
    el("tr", {}, el("th", {}, "measured"), el("th", {}, "input"), el("th", {}, "result")), ...rows);
  $("#attr-result").replaceChildren(clipCard(result.clip), table);
  status(`decoded with ${moved}`);
}

// ------------------------------------------------------------------ Models

function renderModels() {
  const box = $("#model-cards");
  box.replaceChildren();
  for (const m of state.models) {
    const card = m.card || {};
    const acc = card.held_out_accuracy;
    const facts = [
      ["config", m.config], ["kind", `${m.kind}, ${m.bars} bars (${m.steps} steps)`],
      ["latent size", m.z_size], ["parameters", card.parameters ? `${(card.parameters / 1e6).toFixed(2)} M` : "–"],
      ["attributes", m.attributes.length ? m.attributes.join(", ") : "none"],
      ["trained", card.steps ? `${card.steps} steps, batch ${card.batch_size}` : "–"],
      ["held-out accuracy", acc ? `teacher-forced ${(acc.teacher_forced * 100).toFixed(1)}%, sampled ${(acc.sampled_t1 * 100).toFixed(1)}%` : "–"],
      ["data", card.data || "–"], ["from", m.path],
    ];
    const dl = el("dl", {});
    for (const [k, v] of facts) dl.append(el("dt", {}, k), el("dd", {}, String(v)));
    const use = el("button", {
      class: m.id === state.model?.id ? "ghost" : "primary", "data-testid": `use-${m.id}`,
      disabled: m.id === state.model?.id, onclick: () => selectModel(m.id),
    }, m.id === state.model?.id ? "In use" : "Use this model");
    box.append(el("div", { class: `model-card${m.id === state.model?.id ? " current" : ""}`, "data-testid": "model-card" },
      el("h3", {}, m.name, el("span", { class: "tag" }, m.source)), dl, use));
  }
}

// Longer than the model's window only for flat decoders (a hierarchical one has a fixed length).
function fillBars(model) {
  const stepsPerBar = model.steps / model.bars;
  const choices = model.hierarchical ? [model.bars]
    : [1, 2, 4, 8].map((k) => k * model.bars).filter((b) => b * stepsPerBar <= state.limits.max_length);
  $("#gen-bars").replaceChildren(...choices.map((b) => el("option", { value: String(b) },
    b === model.bars ? `${b} (trained)` : String(b))));
}

function selectModel(id) {
  const model = state.models.find((m) => m.id === id);
  if (!model) return;
  fillBars(model);
  stopAll();
  state.model = model;
  $("#model-select").value = id;
  // codes and clips belong to one model: clear what the others made
  interp.a?.set(null);
  interp.b?.set(null);
  blend.slots.forEach((s) => s.set(null));
  blend.clip = null;
  $("#blend-out").replaceChildren();
  $("#int-results").replaceChildren();
  $("#gen-results").replaceChildren();
  $("#attr-result").replaceChildren();
  attrs.slot?.set(null);
  renderSliders();
  renderModels();
  renderShelf();
  document.body.dataset.model = id;
  status(`model ${model.id}: ${model.config}, ${model.kind}, ${model.bars} bars`);
}

// ------------------------------------------------------------------ start

function showView(name) {
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.view === name));
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === `view-${name}`));
  document.querySelectorAll(`#view-${name} .clip`).forEach((c) => c.redraw && c.redraw());
  document.body.dataset.view = name;
}

function animatePlayhead() {
  const pos = audio.position();
  if (!pos && state.playingCards.length) {
    markPlaying([]); // playback ended
    refreshPlayButtons();
  } else if (pos && pos.index !== state.playingIndex) {
    showPlaying(pos.index);
  }
  document.querySelectorAll(".playhead").forEach((p) => (p.style.display = "none"));
  if (pos && state.playingCards[pos.index]) {
    const head = state.playingCards[pos.index].playhead;
    if (head) {
      head.style.display = "block";
      head.style.left = `${Math.min(100, Math.max(0, pos.fraction * 100))}%`;
    }
  }
  requestAnimationFrame(animatePlayhead);
}

async function start() {
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => showView(b.dataset.view)));
  $("#stop-all").addEventListener("click", () => {
    blend.looping = false;
    $("#blend-play").innerHTML = "&#9654; Loop";
    stopAll();
  });
  $("#gen-go").addEventListener("click", generate);
  bindTemperature("gen-temp");
  bindTemperature("int-temp");
  bindTemperature("blend-temp");
  bindTemperature("attr-temp");
  $("#int-go").addEventListener("click", interpolate);
  $("#int-play").addEventListener("click", () => interp.clips.length
    ? playClips(interp.clips, interp.cards) : status("interpolate first", true));
  $("#blend-fill").addEventListener("click", fillCorners);
  $("#blend-play").addEventListener("click", toggleBlendLoop);
  $("#blend-temp").addEventListener("change", () => requestBlend());
  $("#attr-reset").addEventListener("click", () => {
    Object.values(attrs.sliders).forEach((s) => { s.value = "0"; s.dispatchEvent(new Event("input")); });
    applyAttributes();
  });
  $("#attr-temp").addEventListener("change", () => attrs.slot.clip && applyAttributes());
  $("#shelf-zip").addEventListener("click", exportShelf);
  $("#model-select").addEventListener("change", (e) => selectModel(e.target.value));

  interp.a = makeSlot($("#slot-int-a"), () => {});
  interp.b = makeSlot($("#slot-int-b"), () => {});
  blend.slots = [0, 1, 2, 3].map((i) => makeSlot($(`#slot-blend-${i}`), (clip) => encodeCorner(i, clip)));
  attrs.slot = makeSlot($("#slot-attr"), (clip) => clip && applyAttributes());
  bindPad();
  animatePlayhead();

  const info = await guarded("load models", () => api("/api/models"));
  if (!info) return;
  state.models = info.models;
  state.limits = info.limits;
  $("#gen-n").max = String(info.limits.max_samples);
  $("#int-steps").max = String(info.limits.max_steps);
  $("#model-select").replaceChildren(...info.models.map((m) => el("option", { value: m.id }, `${m.id} (${m.kind}, ${m.bars} bars)`)));
  selectModel(info.default);
  document.body.dataset.ready = "1";
}

start();
