// The radio page: the spectrogram timeline in 3D (three.js, 2D canvas fallback) and the
// live Ogg Opus stream. Picture and sound share one clock: the stream starts at server
// frame F (20 ms each), so the frame heard now is F + audio.currentTime / 0.02, and the
// timeline is drawn at exactly that frame.
const root = document.getElementById('radio');
const base = root.dataset.base;
const canvas = document.getElementById('timeline');
const audio = document.getElementById('audio');
const button = document.getElementById('play');
const conn = document.getElementById('conn');
const modeLabel = document.getElementById('view-mode');

const FRAME_S = 0.02;
const COLS_PER_FRAME = 2; // one image column is 10 ms
const CLIP_FRAMES = 256; // 512 columns
const PAST_FRAMES = 400; // 8 s behind the listener
const AHEAD_FRAMES = 100; // 2 s ahead (the rest of the clip playing)
const STRIP_W = (PAST_FRAMES + AHEAD_FRAMES) * COLS_PER_FRAME; // 1000 columns
const STRIP_H = 128;
const LEAD_FRAMES = 150;

const state = { epoch: null, frame: 0, fetchedAt: 0, clips: [], playing: false };
const images = new Map();
let listening = false;
let streamStart = 0;
let reconnectTimer = null;

const strip = document.createElement('canvas');
strip.width = STRIP_W;
strip.height = STRIP_H;
const stripCtx = strip.getContext('2d');

function image(url) {
  let img = images.get(url);
  if (!img) {
    img = new Image();
    img.decoding = 'async';
    img.src = url;
    images.set(url, img);
    if (images.size > 40) images.delete(images.keys().next().value);
  }
  return img;
}

async function refresh() { // true when the server answered
  try {
    const response = await fetch(`${base}/now.json`, { cache: 'no-store' });
    if (!response.ok) throw new Error(String(response.status));
    const now = await response.json();
    if (!now.playing) {
      conn.textContent = 'the radio is not playing';
      state.playing = false;
      return true;
    }
    const restarted = state.epoch !== null && now.epoch !== state.epoch;
    Object.assign(state, {
      epoch: now.epoch, frame: now.frame, fetchedAt: performance.now(),
      clips: now.clips, playing: true,
    });
    document.getElementById('now').textContent = now.now_playing || 'starting…';
    const queue = document.getElementById('queue');
    queue.replaceChildren(...(now.up_next.length ? now.up_next : ['empty']).map((p) => {
      const li = document.createElement('li');
      li.textContent = p;
      return li;
    }));
    if (!listening) conn.textContent = 'live';
    if (restarted && listening) reconnect('the radio restarted');
    return true;
  } catch (error) {
    conn.textContent = 'server unreachable, retrying';
    return false;
  }
}

function liveFrame() {
  return state.frame + (performance.now() - state.fetchedAt) / 1000 / FRAME_S;
}

function heardFrame() {
  if (listening && !audio.paused && audio.currentTime > 0) {
    return streamStart + audio.currentTime / FRAME_S;
  }
  return liveFrame();
}

function drawStrip(frame) {
  stripCtx.fillStyle = '#000';
  stripCtx.fillRect(0, 0, STRIP_W, STRIP_H);
  const left = frame - PAST_FRAMES;
  // The images are loud = dark: invert, then tint; red still grows with loudness, and red
  // is the channel three.js reads for the displacement.
  stripCtx.filter = 'invert(1) sepia(1) saturate(4) hue-rotate(290deg)';
  state.clips.forEach((clip, i) => {
    if (!clip.image) return;
    const next = state.clips[i + 1];
    const end = next ? next.frame : clip.frame + CLIP_FRAMES;
    if (end < left || clip.frame > left + PAST_FRAMES + AHEAD_FRAMES) return;
    const img = image(clip.image);
    if (!img.complete || !img.naturalWidth) return;
    const from = Math.max(clip.frame, left);
    const to = Math.min(end, clip.frame + CLIP_FRAMES, left + PAST_FRAMES + AHEAD_FRAMES);
    if (to <= from) return;
    const sx = (from - clip.frame) * COLS_PER_FRAME * (img.naturalWidth / 512);
    const sw = (to - from) * COLS_PER_FRAME * (img.naturalWidth / 512);
    stripCtx.drawImage(img, sx, 0, sw, img.naturalHeight,
      (from - left) * COLS_PER_FRAME, 0, (to - from) * COLS_PER_FRAME, STRIP_H);
  });
  stripCtx.filter = 'none';
}

// --- 2D fallback -------------------------------------------------------------------------
function start2d(target) {
  const ctx = target.getContext('2d');
  modeLabel.textContent = '2D';
  target.dataset.mode = '2d';
  return () => {
    ctx.fillStyle = '#0b0b12';
    ctx.fillRect(0, 0, target.width, target.height);
    ctx.drawImage(strip, 0, 0, target.width, target.height);
    const x = target.width * PAST_FRAMES / (PAST_FRAMES + AHEAD_FRAMES);
    ctx.fillStyle = '#ff4f8b';
    ctx.fillRect(x - 1, 0, 2, target.height);
  };
}

// --- 3D, the way Riffusion's app shows it: the spectrogram as a landscape flowing past ---
async function start3d(target) {
  const THREE = await import('./vendor/three/three.module.min.js');
  const renderer = new THREE.WebGLRenderer({ canvas: target, antialias: true, preserveDrawingBuffer: true });
  renderer.setSize(target.width, target.height, false);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x0b0b12);
  const camera = new THREE.PerspectiveCamera(45, target.width / target.height, 0.1, 100);
  camera.position.set(0, 6.5, 9);
  camera.lookAt(0, 0, -0.5);
  const texture = new THREE.CanvasTexture(strip);
  texture.colorSpace = THREE.SRGBColorSpace;
  const geometry = new THREE.PlaneGeometry(14, 10, 250, 64);
  const material = new THREE.MeshStandardMaterial({
    map: texture, displacementMap: texture, displacementScale: 2.2, roughness: 0.6,
    metalness: 0.05, emissive: 0x220818,
  });
  const land = new THREE.Mesh(geometry, material);
  land.rotation.x = -Math.PI / 2;
  land.rotation.z = Math.PI / 2; // time runs toward the viewer, frequency left to right
  scene.add(land);
  scene.add(new THREE.AmbientLight(0xffffff, 1.2));
  const sun = new THREE.DirectionalLight(0xffffff, 1.6);
  sun.position.set(3, 8, 4);
  scene.add(sun);
  const nowLine = new THREE.Mesh(
    new THREE.BoxGeometry(10.4, 0.06, 0.06), new THREE.MeshBasicMaterial({ color: 0xff4f8b }));
  nowLine.position.set(0, 0.05, 7 - 14 * PAST_FRAMES / (PAST_FRAMES + AHEAD_FRAMES));
  scene.add(nowLine);
  modeLabel.textContent = '3D (WebGL)';
  target.dataset.mode = '3d';
  return () => {
    texture.needsUpdate = true;
    renderer.render(scene, camera);
  };
}

async function startView() {
  const want2d = new URLSearchParams(location.search).get('view') === '2d';
  if (!want2d) {
    try {
      return await start3d(canvas);
    } catch (error) {
      console.warn('WebGL unavailable, drawing in 2D', error);
    }
  }
  const fresh = canvas.cloneNode(false); // a canvas that tried WebGL cannot switch to 2D
  canvas.replaceWith(fresh);
  return start2d(fresh);
}

// --- audio -------------------------------------------------------------------------------
async function listen() {
  listening = true;
  if (!(await refresh()) || !state.playing) {
    reconnect('waiting for the radio');
    return;
  }
  // Start 3 s behind live: the browser gets them at once. Chromium reads a live stream in
  // blocks of about 2 s at this bitrate, so less cushion than that stalls now and then. The
  // timeline follows the sound, so it lags live by the same 3 s.
  streamStart = Math.max(0, Math.floor(liveFrame()) - LEAD_FRAMES);
  audio.src = `${base}/stream.ogg?from=${streamStart}&e=${state.epoch}`;
  try {
    await audio.play();
    conn.textContent = 'listening';
    button.textContent = '■ Stop';
  } catch (error) {
    reconnect('could not start the audio');
  }
}

function stop() {
  listening = false;
  clearTimeout(reconnectTimer);
  audio.pause();
  audio.removeAttribute('src');
  audio.load();
  button.textContent = '▶ Listen';
  conn.textContent = 'live';
}

function reconnect(why) {
  conn.textContent = `reconnecting (${why})`;
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(() => { if (listening) listen(); }, 1500);
}

button.addEventListener('click', () => (listening ? stop() : listen()));
audio.addEventListener('error', () => { if (listening) reconnect('stream lost'); });
audio.addEventListener('ended', () => { if (listening) reconnect('stream ended'); });

// --- loop --------------------------------------------------------------------------------
const draw = await startView();
await refresh();
setInterval(refresh, 1000);
function frame() {
  const heard = heardFrame();
  drawStrip(heard);
  draw();
  root.dataset.frame = String(Math.round(heard));
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
