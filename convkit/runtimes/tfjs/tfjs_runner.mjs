// Runs TF.js models (layers or graph) in real TF.js under Node.js, for `convkit check`.
//
// One model:      node tfjs_runner.mjs MODEL_JSON INPUTS_JSON OUTPUTS_JSON [--backend cpu|wasm] [--loader files|io]
// Many models:    node tfjs_runner.mjs --serve
//   reads one JSON request per line on stdin, {"id", "model", "inputs", "outputs", "backend", "loader",
//   "release"},
//   and answers each with one JSON line on stdout, {"id", "ok": true, "header"} or
//   {"id", "ok": false, "error"}; TF.js is loaded once for all of them.
//
// INPUTS_JSON names a binary file of raw little-endian tensors and lists each
// tensor's name, dtype, shape, byte offset and length. The outputs are written
// the same way (OUTPUTS_JSON plus OUTPUTS_JSON's ".bin" sibling); the header
// also carries the seconds and memory of loading and running (profile).
// The model loads with each weight read once from its shard into the backend's
// storage (tfjs_load.mjs); --loader io loads it through TF.js's own IOHandler
// path instead (every shard read whole, then decoded and copied).
// @tensorflow/tfjs (and @tensorflow/tfjs-backend-wasm for the wasm backend) are
// resolved from CONVKIT_NODE_ROOT (a directory holding node_modules) or from this
// script's folder upward.

import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { loadModelFiles } from './tfjs_load.mjs';
import { ModelError, runToBytes, unpackTensors, useBackend } from './tfjs_model.mjs';

const MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024;
const require = createRequire(import.meta.url);
const ROOTS = [process.env.CONVKIT_NODE_ROOT, path.dirname(fileURLToPath(import.meta.url))].filter(Boolean);

function load(packageName) {
  let resolved;
  try {
    resolved = require.resolve(packageName, { paths: ROOTS });
  } catch (error) {
    throw new ModelError(`cannot find ${packageName} from ${ROOTS.join(', ')}; run 'convkit setup-tfjs' (or 'npm ci' in a convkit checkout)`);
  }
  return require(resolved);
}

// The wasm backend registers itself with the tfjs-core that @tensorflow/tfjs uses when first loaded,
// so it is loaded only when asked for and a missing package fails only the runs that need it.
function loadBackend(name) {
  if (name === 'wasm') load('@tensorflow/tfjs-backend-wasm');
}

function readModelJson(modelJsonPath) {
  const text = readFileSync(modelJsonPath);
  if (text.length > MAX_MODEL_JSON_BYTES) throw new ModelError(`${modelJsonPath} is larger than ${MAX_MODEL_JSON_BYTES} bytes`);
  return JSON.parse(text.toString('utf8'));
}

// This process's memory in bytes: resident now, its high-water mark, and the wasm heap's size.
function probe(tf) {
  const memory = { rss: process.memoryUsage.rss(), hwm: process.resourceUsage().maxRSS * 1024 };
  try {
    const status = readFileSync('/proc/self/status', 'latin1');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (hwm) memory.hwm = Number(hwm[1]) * 1024;
  } catch (error) {
    // not Linux: resourceUsage's maxRSS stands
  }
  const backend = tf.getBackend() === 'wasm' ? tf.backend() : null;
  if (backend && backend.wasm && backend.wasm.HEAPU8) memory.wasmHeap = backend.wasm.HEAPU8.length;
  return memory;
}

// One model on one backend: reads INPUTS_JSON, writes OUTPUTS_JSON, returns the header written.
async function runOne(tf, request) {
  loadBackend(request.backend);
  const backend = await useBackend(tf, request.backend || 'cpu');
  const modelJson = readModelJson(request.model);
  const inputHeader = JSON.parse(readFileSync(request.inputs, 'utf8'));
  const data = readFileSync(path.resolve(path.dirname(request.inputs), inputHeader.data));
  const feed = unpackTensors(tf, inputHeader, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  const load = (json = modelJson) => loadModelFiles(tf, request.model, json, request.loader || 'files');
  // The model runs once and is then discarded, so each layer's weights go as soon as it has run.
  const { header, bytes } = await runToBytes(tf, modelJson, load, feed, backend,
    { probe: () => probe(tf), release: request.release !== false });
  header.data = path.basename(request.outputs) + '.bin';
  writeFileSync(path.resolve(path.dirname(request.outputs), header.data), bytes);
  writeFileSync(request.outputs, JSON.stringify(header));
  return header;
}

function firstLine(error) {
  return String(error && error.message ? error.message : error).split('\n')[0];
}

async function serve() {
  // stdout carries the answers only: whatever TF.js prints goes to stderr.
  const toStderr = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');
  console.log = toStderr;
  console.info = toStderr;
  console.warn = toStderr;
  // The iterator exists before the first await, so no request line arriving meanwhile is lost.
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
  // Started ahead of the first model, so TF.js loads and the wasm module compiles while the caller
  // still runs its reference; a failure here is reported with the first request instead.
  let tf = null;
  let startup = null;
  try {
    tf = load('@tensorflow/tfjs');
    loadBackend('wasm');
    await useBackend(tf, 'wasm');
  } catch (error) {
    startup = error;
  }
  for await (const line of lines) {
    if (!line.trim()) continue;
    let request = {};
    let answer;
    try {
      request = JSON.parse(line);
      if (tf === null) throw startup;
      answer = { id: request.id, ok: true, header: await runOne(tf, request) };
    } catch (error) {
      if (process.env.CONVKIT_DEBUG) console.error(error);
      answer = { id: request.id, ok: false, error: firstLine(error) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--serve') return serve();
  const options = { backend: 'cpu', loader: 'files' };
  const positional = [];
  for (let i = 0; i < args.length; i += 1) {
    if (args[i] === '--backend' || args[i] === '--loader') {
      options[args[i].slice(2)] = args[i + 1];
      i += 1;
    } else {
      positional.push(args[i]);
    }
  }
  const [model, inputs, outputs] = positional;
  if (!outputs) {
    throw new ModelError('usage: node tfjs_runner.mjs MODEL_JSON INPUTS_JSON OUTPUTS_JSON [--backend cpu|wasm] [--loader files|io]');
  }
  await runOne(load('@tensorflow/tfjs'), { model, inputs, outputs, ...options });
}

main().catch((error) => {
  if (process.env.CONVKIT_DEBUG) console.error(error);
  process.stderr.write(`convkit-tfjs-error: ${firstLine(error)}\n`);
  process.exit(1);
});
