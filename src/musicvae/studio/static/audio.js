// Playback with Tone.js (vendored, global `Tone`): a soft lead for melodies, a bass synth, and a
// small synthesized drum kit. One player at a time: play a list of clips in sequence (once or
// looped), swap the looped clip while it plays (Blend pad), stop.
// window.studioAudio exposes the AudioContext state and a count of scheduled notes (for tests).

const stats = { scheduled: 0, plays: 0 };
let instruments = null;
let part = null;
let stopTimer = null;
let current = { clips: [], starts: [], total: 0, loop: false };

function midiToFreq(pitch) {
  return 440 * Math.pow(2, (pitch - 69) / 12);
}

function buildInstruments() {
  const reverb = new Tone.Reverb({ decay: 2.2, wet: 0.22 }).toDestination();
  const lead = new Tone.PolySynth(Tone.Synth, {
    oscillator: { type: "fattriangle", count: 2, spread: 12 },
    envelope: { attack: 0.008, decay: 0.25, sustain: 0.4, release: 0.5 },
    volume: -10,
  });
  const leadFilter = new Tone.Filter(2800, "lowpass").connect(reverb);
  lead.connect(leadFilter);
  const bass = new Tone.PolySynth(Tone.Synth, {
    oscillator: { type: "sawtooth" },
    envelope: { attack: 0.005, decay: 0.3, sustain: 0.5, release: 0.2 },
    volume: -14,
  });
  bass.connect(new Tone.Filter(700, "lowpass").connect(reverb));
  const kick = new Tone.MembraneSynth({ volume: -6 }).connect(reverb);
  const tom = new Tone.MembraneSynth({ octaves: 2, volume: -10 }).connect(reverb);
  const snare = new Tone.NoiseSynth({
    noise: { type: "white" },
    envelope: { attack: 0.001, decay: 0.16, sustain: 0 },
    volume: -14,
  }).connect(reverb);
  const hat = new Tone.MetalSynth({
    envelope: { attack: 0.001, decay: 0.06, release: 0.02 },
    harmonicity: 5.1, modulationIndex: 32, resonance: 5000, octaves: 1.5, volume: -26,
  }).connect(reverb);
  const cymbal = new Tone.MetalSynth({
    envelope: { attack: 0.001, decay: 0.6, release: 0.2 }, volume: -28,
  }).connect(reverb);
  return { lead, bass, kick, tom, snare, hat, cymbal };
}

function playDrum(pitch, time, velocity) {
  const i = instruments;
  if (pitch === 35 || pitch === 36) i.kick.triggerAttackRelease("C1", "8n", time, velocity);
  else if ([37, 38, 39, 40].includes(pitch)) i.snare.triggerAttackRelease("16n", time, velocity);
  else if ([42, 44].includes(pitch)) i.hat.triggerAttackRelease("32n", time, velocity);
  else if (pitch === 46) i.hat.triggerAttackRelease("8n", time, velocity);
  else if ([41, 43, 45, 47, 48, 50].includes(pitch))
    i.tom.triggerAttackRelease(midiToFreq(pitch - 12), "8n", time, velocity);
  else i.cymbal.triggerAttackRelease("4n", time, velocity * 0.7);
}

function events(clips, bpm) {
  const stepSeconds = 60 / bpm / 4;
  const out = [];
  const starts = [];
  let offset = 0;
  clips.forEach((clip, index) => {
    const spq = clip.steps_per_quarter || 4;
    const scale = (stepSeconds * 4) / spq;
    starts.push(offset);
    for (const n of clip.notes) {
      out.push({
        time: offset + n.start * scale,
        duration: Math.max(0.05, (n.end - n.start) * scale * 0.95),
        pitch: n.pitch,
        velocity: (n.velocity || 80) / 127,
        drum: n.is_drum,
        bass: !n.is_drum && n.program >= 32 && n.program < 40,
        clip: index,
      });
    }
    offset += clip.steps * scale;
  });
  return { list: out, starts, total: offset };
}

function trigger(time, ev) {
  if (ev.drum) playDrum(ev.pitch, time, ev.velocity);
  else {
    const synth = ev.bass ? instruments.bass : instruments.lead;
    synth.triggerAttackRelease(midiToFreq(ev.pitch), ev.duration, time, ev.velocity);
  }
  stats.scheduled += 1;
}

export async function ensureAudio() {
  await Tone.start();
  if (!instruments) instruments = buildInstruments();
}

// Which clip sounds is read from the transport (position()) by the page's animation loop, not
// from scheduled callbacks: Tone.Draw drops callbacks that come late on a busy machine.
export async function play(clips, { bpm = 110, loop = false } = {}) {
  await ensureAudio();
  stop();
  const { list, starts, total } = events(clips, bpm);
  current = { clips, starts, total, loop };
  const transport = Tone.getTransport();
  part = new Tone.Part(trigger, list);
  part.loop = loop;
  part.loopEnd = total;
  part.start(0);
  if (!loop) stopTimer = setTimeout(stop, (total + 0.7) * 1000);
  transport.position = 0;
  transport.start("+0.05");
  stats.plays += 1;
}

// Replace the looped clip in place (Blend pad): the new notes start with the next step.
export function replaceLoop(clip, bpm = 110) {
  if (!part || !current.loop) return false;
  const { list, total } = events([clip], bpm);
  part.clear();
  for (const ev of list) part.add(ev);
  part.loopEnd = total;
  current = { clips: [clip], starts: [0], total, loop: true };
  return true;
}

export function stop() {
  clearTimeout(stopTimer);
  stopTimer = null;
  const transport = Tone.getTransport();
  transport.stop();
  transport.cancel();
  if (part) {
    part.dispose();
    part = null;
  }
  if (instruments) {
    instruments.lead.releaseAll();
    instruments.bass.releaseAll();
  }
  current = { clips: [], starts: [], total: 0, loop: false };
}

export function isPlaying() {
  return part !== null;
}

// Seconds into the current clip, and which clip: for the playhead.
export function position() {
  if (!part) return null;
  let t = Tone.getTransport().seconds;
  if (current.loop && current.total > 0) t %= current.total;
  let index = 0;
  while (index + 1 < current.starts.length && current.starts[index + 1] <= t) index += 1;
  const start = current.starts[index] || 0;
  const end = index + 1 < current.starts.length ? current.starts[index + 1] : current.total;
  return { index, fraction: end > start ? (t - start) / (end - start) : 0 };
}

window.studioAudio = {
  get state() {
    return Tone.getContext().state;
  },
  get scheduled() {
    return stats.scheduled;
  },
  get plays() {
    return stats.plays;
  },
  get playing() {
    return part !== null;
  },
};
