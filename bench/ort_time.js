#!/usr/bin/env node
// Times ONNX Runtime (onnxruntime-node, CPU) on one model for bench/compare.py.
//
//   node bench/ort_time.js MODEL [--threads N] [--reps R] [--warmup W]
//                          [--warmup-ms T] [--sessions S] [--no-spin]
//                          [NAME=FILE.npy ...]
//
// Creates the session S times (default 3; the first also pays for ORT's
// environment set-up, so the median is reported as session_ms and the first
// as session_first_ms; all of them in session_all_ms), binds the .npy inputs once, runs warm-up calls (at
// least W, default 2, and for at least T ms, default 300: V8 needs a few
// hundred calls to optimise the binding's JavaScript, which otherwise adds
// ~100 us to every call) and R timed calls (default 20) of
// `await session.run(feeds)`,
// and prints one JSON line: session_ms, session_first_ms, min_ms, median_ms,
// mean_ms, reps, warmup (calls made), threads. Session options: graph optimisation level
// "all", intraOpNumThreads N (default 1), interOpNumThreads 1, sequential
// execution, CPU provider; everything else is ORT's default (memory arena,
// memory patterns, spinning intra-op threads; --no-spin sets
// session.intra_op.allow_spinning=0, which matters on a busy machine where a
// spinning worker competes with other processes for a core). Times include the Node
// binding's per-call cost (a setImmediate hop, feed checks, output copies);
// compare.py measures that on a one-node model so it can be subtracted.
//
// onnxruntime-node is looked up in $IVM_MODELS_DIR (default build/models),
// where scripts/fetch-models.sh installs it.
'use strict';
const fs = require('fs');
const path = require('path');

const NPY_TYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '<i2': ['int16', Int16Array], '|i1': ['int8', Int8Array],
  '|u1': ['uint8', Uint8Array], '<u2': ['uint16', Uint16Array],
  '<u4': ['uint32', Uint32Array], '<u8': ['uint64', BigUint64Array],
  '|b1': ['bool', Uint8Array],
};

function die(msg) {
  process.stderr.write(`ort_time: ${msg}\n`);
  process.exit(2);
}

// A C-order .npy file (version 1-3) as { type, dims, data }.
function readNpy(file) {
  let buf;
  try { buf = fs.readFileSync(file); } catch (e) { die(`${file}: ${e.message}`); }
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') die(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) die(`${file}: bad header`);
  if (fortran[1] === 'True') die(`${file}: fortran order not supported`);
  const d = { '<b1': '|b1', b1: '|b1', '<i1': '|i1', '<u1': '|u1' }[descr[1]] || descr[1];
  if (!NPY_TYPES[d]) die(`${file}: dtype ${descr[1]} not supported`);
  const dims = shape[1].split(',').map(s => s.trim()).filter(s => s.length).map(Number);
  const [type, Arr] = NPY_TYPES[d];
  const n = dims.reduce((a, b) => a * b, 1);
  const start = off + hlen;
  const bytes = buf.subarray(start, start + n * Arr.BYTES_PER_ELEMENT);
  if (bytes.length !== n * Arr.BYTES_PER_ELEMENT) die(`${file}: truncated data`);
  const data = new Arr(n);
  new Uint8Array(data.buffer).set(bytes);
  return { type, dims, data };
}

function loadOrt() {
  const dir = process.env.IVM_MODELS_DIR || path.join(__dirname, '..', 'build', 'models');
  try {
    return require(require.resolve('onnxruntime-node', { paths: [dir] }));
  } catch (e) {
    return die(`cannot load onnxruntime-node from ${dir} (run scripts/fetch-models.sh): ${e.message}`);
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function parseArgs(argv) {
  const o = { model: null, threads: 1, reps: 20, warmup: 2, warmupMs: 300, sessions: 3, spin: true, binds: [] };
  const num = (flag, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) die(`${flag} wants an integer >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--threads') o.threads = num(a, argv[++i], 1);
    else if (a === '--reps') o.reps = num(a, argv[++i], 1);
    else if (a === '--warmup') o.warmup = num(a, argv[++i], 0);
    else if (a === '--warmup-ms') o.warmupMs = num(a, argv[++i], 0);
    else if (a === '--sessions') o.sessions = num(a, argv[++i], 1);
    else if (a === '--no-spin') o.spin = false;
    else if (a.startsWith('-')) die(`unknown option '${a}'`);
    else if (!o.model) o.model = a;
    else o.binds.push(a);
  }
  if (!o.model) {
    die('usage: ort_time.js MODEL [--threads N] [--reps R] [--warmup W] [--warmup-ms T]'
        + ' [--sessions S] [--no-spin] [NAME=FILE.npy ...]');
  }
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const options = {
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
  if (!o.spin) options.extra = { session: { intra_op: { allow_spinning: '0' } } };
  const created = [];
  let s = null;
  for (let k = 0; k < o.sessions; k++) {
    if (s) await s.release();
    const t0 = nowMs();
    s = await ort.InferenceSession.create(o.model, options);
    created.push(nowMs() - t0);
  }
  const feeds = {};
  for (const b of o.binds) {
    const i = b.indexOf('=');
    if (i <= 0) die(`bad binding '${b}' (want NAME=FILE.npy)`);
    const t = readNpy(b.slice(i + 1));
    feeds[b.slice(0, i)] = new ort.Tensor(t.type, t.data, t.dims);
  }
  for (const n of s.inputNames) if (!feeds[n]) die(`input '${n}' not bound`);
  const warmStart = nowMs();
  let warm = 0;
  while (warm < o.warmup || (nowMs() - warmStart < o.warmupMs && warm < 10000)) {
    await s.run(feeds);
    warm++;
  }
  const times = [];
  for (let k = 0; k < o.reps; k++) {
    const t0 = nowMs();
    await s.run(feeds);
    times.push(nowMs() - t0);
  }
  const r4 = x => Math.round(x * 1e4) / 1e4;
  process.stdout.write(JSON.stringify({
    model: o.model,
    session_ms: r4(median(created)),
    session_first_ms: r4(created[0]),
    session_all_ms: created.map(r4),
    min_ms: r4(Math.min(...times)),
    median_ms: r4(median(times)),
    mean_ms: r4(times.reduce((a, b) => a + b, 0) / times.length),
    reps: o.reps,
    warmup: warm,
    threads: o.threads,
    spin: o.spin,
    ort_version: ort.env && ort.env.versions ? ort.env.versions.common : undefined,
  }) + '\n');
}

main().catch(e => die(e && e.message ? e.message : String(e)));
