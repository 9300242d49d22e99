// MusicVAE Studio page: the five views (Generate, Interpolate, Blend pad, Attributes, Models)
// over the JSON API; shared parts are in ui.js, playback in audio.js, piano rolls in roll.js.
import * as audio from "./audio.js";
import {
  $,
  el,
  state,
  status,
  api,
  guarded,
  bpm,
  temperature,
  bindTemperature,
  clipIn,
  markPlaying,
  playClips,
  showPlaying,
  stopAll,
  refreshPlayButtons,
  clipCard,
  renderShelf,
  exportShelf,
  makeSlot,
} from "./ui.js";

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
    model: state.model.id, start: clipIn(interp.a.clip), end: clipIn(interp.b.clip),
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

const blend = { slots: [], codes: [null, null, null, null], tokens: [0, 0, 0, 0], x: 0.5, y: 0.5, clip: null,
  inFlight: false, pending: false, card: null, requests: 0 };
window.studioBlend = blend;

async function encodeCorner(index, clip) {
  blend.codes[index] = null;
  const token = (blend.tokens[index] += 1);
  if (!clip) return;
  const result = await guarded("encode corner", () => api("/api/encode", {
    model: state.model.id, clips: [clipIn(clip)],
  }));
  if (token !== blend.tokens[index]) return; // the corner changed meanwhile
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
    model: state.model.id, clip: clipIn(attrs.slot.clip), amounts,
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
  const temp = $("#gen-temp"); // start where the model card recommends sampling
  temp.value = String(model.temperature ?? 0.5);
  temp.dispatchEvent(new Event("input"));
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
