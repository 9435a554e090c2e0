#!/usr/bin/env node
// Reference runner for tests/models/check.sh: ONNX Runtime (onnxruntime-node,
// graph optimisation level "all", CPU) on .npy inputs, .npy outputs.
//
//   node ort_run.js gen MODEL OUTDIR [--seed N] [SPEC...]
//       Writes one deterministic input per model input to OUTDIR/<name>.npy
//       and prints NAME=PATH per line. dtype comes from the model; SPEC is
//       NAME=DIMS[:GEN] with DIMS like 1x3x48x160 ('-' for a scalar; needed
//       wherever the model's shape is symbolic) and GEN one of rand(LO,HI)
//       (uniform, the default is rand(-1,1)), zeros, const(V), text(LO,HI)
//       (an NCHW image of glyph-like strokes of value LO on background HI).
//   node ort_run.js run MODEL OUTDIR [NAME=FILE.npy ...]
//       Runs the model and writes each output to OUTDIR/<name>.npy (characters
//       outside [A-Za-z0-9_.-] become '_', as `ivm run -o` does).
//
// onnxruntime-node is looked up in $IVM_MODELS_DIR (default build/models),
// where scripts/fetch-models.sh installs it.
'use strict';
const fs = require('fs');
const path = require('path');

const DTYPES = {
  // npy descr <-> ORT type <-> typed array
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '<i2': ['int16', Int16Array], '|i1': ['int8', Int8Array],
  '|u1': ['uint8', Uint8Array], '<u2': ['uint16', Uint16Array],
  '<u4': ['uint32', Uint32Array], '<u8': ['uint64', BigUint64Array],
  '|b1': ['bool', Uint8Array],
};
const DESCR_OF = {};
for (const [d, [t]] of Object.entries(DTYPES)) DESCR_OF[t] = d;

function die(msg) {
  process.stderr.write(`ort_run: ${msg}\n`);
  process.exit(2);
}

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') die(`${file}: not a .npy file`);
  const major = buf[6];
  let hlen, off;
  if (major === 1) { hlen = buf.readUInt16LE(8); off = 10; } else { hlen = buf.readUInt32LE(8); off = 12; }
  const header = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) die(`${file}: bad header`);
  if (fortran[1] === 'True') die(`${file}: fortran order not supported`);
  let d = descr[1];
  if (d === '<b1' || d === 'b1') d = '|b1';
  if (d === '<i1') d = '|i1';
  if (d === '<u1') d = '|u1';
  if (!DTYPES[d]) die(`${file}: dtype ${descr[1]} not supported`);
  const dims = shape[1].split(',').map(s => s.trim()).filter(s => s.length).map(Number);
  const [type, Arr] = DTYPES[d];
  const n = dims.reduce((a, b) => a * b, 1);
  const start = off + hlen;
  const bytes = buf.subarray(start, start + n * Arr.BYTES_PER_ELEMENT);
  if (bytes.length !== n * Arr.BYTES_PER_ELEMENT) die(`${file}: truncated data`);
  const data = new Arr(n);
  new Uint8Array(data.buffer).set(bytes);
  return { type, dims, data };
}

function writeNpy(file, type, dims, data) {
  const descr = DESCR_OF[type];
  if (!descr) die(`cannot write dtype ${type} to ${file}`);
  const shp = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shp}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

function safeName(name) {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function loadOrt() {
  const dir = process.env.IVM_MODELS_DIR || path.join(__dirname, '..', '..', 'build', 'models');
  try {
    return require(require.resolve('onnxruntime-node', { paths: [dir] }));
  } catch (e) {
    die(`cannot load onnxruntime-node from ${dir} (run scripts/fetch-models.sh): ${e.message}`);
  }
}

async function session(ort, model) {
  return ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
  });
}

// mulberry32: small deterministic PRNG, identical on every platform.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashName(s) {
  let h = 2166136261;
  for (const c of Buffer.from(s)) { h ^= c; h = Math.imul(h, 16777619) >>> 0; }
  return h;
}

async function gen(args) {
  const [model, outdir, ...rest] = args;
  if (!model || !outdir) die('usage: gen MODEL OUTDIR [--seed N] [SPEC...]');
  let seed = 1;
  const specs = {};
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--seed') { seed = Number(rest[++i]); continue; }
    const m = /^([^=]+)=([^:]+)(?::(.*))?$/.exec(rest[i]);
    if (!m) die(`bad spec '${rest[i]}'`);
    specs[m[1]] = { dims: m[2] === '-' ? [] : m[2].split('x').map(Number), gen: m[3] || '' };
  }
  const ort = loadOrt();
  const s = await session(ort, model);
  fs.mkdirSync(outdir, { recursive: true });
  for (const meta of s.inputMetadata) {
    const spec = specs[meta.name];
    delete specs[meta.name];
    let dims;
    if (spec) dims = spec.dims;
    else if (meta.shape.every(d => typeof d === 'number' && d >= 0)) dims = meta.shape;
    else die(`input '${meta.name}' has symbolic shape [${meta.shape}]: give NAME=DIMS`);
    if (dims.some(d => !Number.isInteger(d) || d < 0)) die(`bad dims for '${meta.name}'`);
    const type = meta.type;
    const ent = Object.values(DTYPES).find(([t]) => t === type);
    if (!ent) die(`input '${meta.name}': dtype ${type} not supported`);
    const Arr = ent[1];
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Arr(n);
    const g = (spec && spec.gen) || 'rand(-1,1)';
    let mm;
    const big = Arr === BigInt64Array || Arr === BigUint64Array;
    const conv = v => (big ? BigInt(Math.round(v)) : v);
    if (g === 'zeros') {
      // already zero
    } else if ((mm = /^const\(([-+0-9.eE]+)\)$/.exec(g))) {
      data.fill(conv(Number(mm[1])));
    } else if ((mm = /^rand\(([-+0-9.eE]+),([-+0-9.eE]+)\)$/.exec(g))) {
      const lo = Number(mm[1]), hi = Number(mm[2]);
      const r = rng((seed * 2654435761) ^ hashName(meta.name));
      const isFloat = type === 'float32' || type === 'float64';
      for (let i = 0; i < n; i++) {
        const v = lo + (hi - lo) * r();
        data[i] = isFloat ? v : conv(Math.floor(v));
      }
    } else if ((mm = /^text\(([-+0-9.eE]+),([-+0-9.eE]+)\)$/.exec(g)) && dims.length === 4) {
      // A synthetic "printed text" image (N,C,H,W): rows of glyph-like
      // strokes of value LO on a background of value HI, plus a little noise,
      // so that detectors/recognisers see structure rather than pure noise.
      const lo = Number(mm[1]), hi = Number(mm[2]);
      const r = rng((seed * 2654435761) ^ hashName(meta.name));
      const [N, C, H, W] = dims;
      const img = new Float64Array(H * W).fill(1);
      const lineH = Math.max(8, Math.min(32, Math.floor(H * 0.6)));
      for (let y0 = Math.floor(lineH / 3); y0 + lineH <= H; y0 += Math.floor(lineH * 1.6)) {
        let x = 2 + Math.floor(r() * 6);
        while (x + lineH / 2 < W - 2) {
          const gw = Math.max(3, Math.floor(lineH * (0.4 + 0.3 * r())));
          const strokes = 2 + Math.floor(r() * 3);
          for (let k = 0; k < strokes; k++) {
            const vert = r() < 0.5, th = Math.max(1, Math.floor(lineH / 8));
            const a = Math.floor(r() * gw), b = Math.floor(r() * (lineH - th));
            for (let yy = 0; yy < lineH; yy++) for (let xx = 0; xx < gw; xx++) {
              const on = vert ? (xx >= a && xx < a + th) : (yy >= b && yy < b + th);
              if (on && y0 + yy < H && x + xx < W) img[(y0 + yy) * W + x + xx] = 0;
            }
          }
          x += gw + Math.max(1, Math.floor(lineH / 6));
          if (r() < 0.15) x += Math.floor(lineH * 0.6); // word gap
        }
      }
      for (let i = 0; i < n; i++) {
        const p = img[i % (H * W)];
        data[i] = lo + (hi - lo) * p + 0.02 * (hi - lo) * (r() - 0.5);
      }
      void N; void C;
    } else {
      die(`bad generator '${g}' for '${meta.name}'`);
    }
    const file = path.join(outdir, safeName(meta.name) + '.npy');
    writeNpy(file, type, dims, data);
    process.stdout.write(`${meta.name}=${file}\n`);
  }
  const extra = Object.keys(specs);
  if (extra.length) die(`spec for unknown input(s): ${extra.join(', ')}`);
}

async function run(args) {
  const [model, outdir, ...binds] = args;
  if (!model || !outdir) die('usage: run MODEL OUTDIR [NAME=FILE.npy ...]');
  const ort = loadOrt();
  const s = await session(ort, model);
  const feeds = {};
  for (const b of binds) {
    const i = b.indexOf('=');
    if (i <= 0) die(`bad binding '${b}' (want NAME=FILE.npy)`);
    const t = readNpy(b.slice(i + 1));
    feeds[b.slice(0, i)] = new ort.Tensor(t.type, t.data, t.dims);
  }
  for (const n of s.inputNames) if (!feeds[n]) die(`input '${n}' not bound`);
  const out = await s.run(feeds);
  fs.mkdirSync(outdir, { recursive: true });
  for (const name of s.outputNames) {
    const t = out[name];
    let data = t.data;
    if (t.type === 'bool') data = Uint8Array.from(data, v => (v ? 1 : 0));
    writeNpy(path.join(outdir, safeName(name) + '.npy'), t.type, t.dims.map(Number), data);
  }
}

const [cmd, ...rest] = process.argv.slice(2);
const f = { gen, run }[cmd];
if (!f) die('usage: ort_run.js gen|run ...');
f(rest).catch(e => die(e && e.message ? e.message : String(e)));
