// Piano rolls on a canvas from clip JSON (notes in 16th steps): pitch rows for melodies and bass,
// hits for drums, bar and beat lines, octave labels on the Cs.

const COLORS = { melody: "#4fc3c9", drums: "#ff6b6b", bass: "#9ad26b" };

function role(note) {
  if (note.is_drum) return "drums";
  if (note.program >= 32 && note.program < 40) return "bass";
  return "melody";
}

export function drawRoll(canvas, clip) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 300;
  const height = canvas.clientHeight || 96;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.fillStyle = "#12131a";
  ctx.fillRect(0, 0, width, height);

  const notes = clip.notes || [];
  const spq = clip.steps_per_quarter || 4;
  const steps = Math.max(clip.steps || 0, ...notes.map((n) => n.end), spq * 4);
  const pitches = notes.map((n) => n.pitch);
  let lo = pitches.length ? Math.min(...pitches) - 2 : 58;
  let hi = pitches.length ? Math.max(...pitches) + 2 : 74;
  if (hi - lo < 14) {
    const mid = Math.round((hi + lo) / 2);
    lo = mid - 7;
    hi = mid + 7;
  }
  const rows = hi - lo + 1;
  const rowH = height / rows;
  const stepW = width / steps;

  // black-key rows, then beat and bar lines
  for (let p = lo; p <= hi; p++) {
    if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) {
      ctx.fillStyle = "#171922";
      ctx.fillRect(0, (hi - p) * rowH, width, rowH);
    }
  }
  for (let s = 0; s <= steps; s += spq) {
    const bar = s % (spq * 4) === 0;
    ctx.fillStyle = bar ? "#3a3f50" : "#23262f";
    ctx.fillRect(Math.round(s * stepW), 0, 1, height);
  }
  ctx.fillStyle = "#5b6070";
  ctx.font = "9px system-ui, sans-serif";
  for (let p = lo; p <= hi; p++) {
    if (p % 12 === 0 && rowH >= 3) ctx.fillText(`C${p / 12 - 1}`, 2, (hi - p) * rowH + rowH - 1);
  }
  for (const n of notes) {
    const kind = role(n);
    const x = n.start * stepW;
    const w = Math.max(2, (kind === "drums" ? 1 : n.end - n.start) * stepW - 1);
    const y = (hi - n.pitch) * rowH;
    ctx.fillStyle = COLORS[kind];
    ctx.globalAlpha = 0.55 + 0.45 * ((n.velocity || 80) / 127);
    ctx.fillRect(x + 0.5, y, w, Math.max(2, rowH - 1));
  }
  ctx.globalAlpha = 1;
}

export function clipSeconds(clip, bpm) {
  const spq = clip.steps_per_quarter || 4;
  return (clip.steps * 60) / bpm / spq;
}
