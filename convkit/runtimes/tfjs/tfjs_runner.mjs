// Runs TF.js models (layers or graph) in real TF.js under Node.js, for `convkit check`.
//
// One model:      node tfjs_runner.mjs MODEL_JSON INPUTS_JSON OUTPUTS_JSON [--backend cpu|wasm]
// Many models:    node tfjs_runner.mjs --serve
//   reads one JSON request per line on stdin, {"id", "model", "inputs", "outputs", "backend"},
//   and answers each with one JSON line on stdout, {"id", "ok": true, "header"} or
//   {"id", "ok": false, "error"}; TF.js is loaded once for all of them.
//
// INPUTS_JSON names a binary file of raw little-endian tensors and lists each
// tensor's name, dtype, shape, byte offset and length. The outputs are written
// the same way (OUTPUTS_JSON plus OUTPUTS_JSON's ".bin" sibling).
// @tensorflow/tfjs (and @tensorflow/tfjs-backend-wasm for the wasm backend) are
// resolved from CONVKIT_NODE_ROOT (a directory holding node_modules) or from this
// script's folder upward.

import { createRequire } from 'node:module';
import { readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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

// A shard must be a regular file inside the model folder (after following links); never a device.
function readShard(folder, relative, modelJsonPath) {
  if (typeof relative !== 'string' || path.isAbsolute(relative)) {
    throw new ModelError(`${modelJsonPath}: weight shard path ${relative} leaves the model folder`);
  }
  let real;
  try {
    real = realpathSync(path.resolve(folder, relative));
  } catch (error) {
    throw new ModelError(`${modelJsonPath}: weight shard ${relative} is missing`);
  }
  const realFolder = realpathSync(folder);
  if (path.relative(realFolder, real).startsWith('..') || !statSync(real).isFile()) {
    throw new ModelError(`${modelJsonPath}: weight shard ${relative} is not a regular file inside the model folder`);
  }
  return readFileSync(real);
}

function readModelJson(modelJsonPath) {
  const text = readFileSync(modelJsonPath);
  if (text.length > MAX_MODEL_JSON_BYTES) throw new ModelError(`${modelJsonPath} is larger than ${MAX_MODEL_JSON_BYTES} bytes`);
  return JSON.parse(text.toString('utf8'));
}

// An IOHandler reading model.json and its weight shards from disk (tf.io has none in plain @tensorflow/tfjs).
function fileHandler(modelJsonPath, modelJson) {
  return {
    load: async () => {
      const folder = path.dirname(path.resolve(modelJsonPath));
      const weightSpecs = [];
      const buffers = [];
      for (const group of modelJson.weightsManifest || []) {
        for (const relative of group.paths) {
          buffers.push(readShard(folder, relative, modelJsonPath));
        }
        weightSpecs.push(...group.weights);
      }
      // One ArrayBuffer per shard (TF.js reads the list as one): no joined copy of a large model.
      const weightData = buffers.map((b) => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
        ? b.buffer : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
      const artifacts = {
        modelTopology: modelJson.modelTopology,
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy,
        weightSpecs,
        weightData,
      };
      for (const key of ['signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature', 'trainingConfig']) {
        if (modelJson[key] != null) artifacts[key] = modelJson[key];
      }
      return artifacts;
    },
  };
}

// One model on one backend: reads INPUTS_JSON, writes OUTPUTS_JSON, returns the header written.
async function runOne(tf, request) {
  loadBackend(request.backend);
  const backend = await useBackend(tf, request.backend || 'cpu');
  const modelJson = readModelJson(request.model);
  const inputHeader = JSON.parse(readFileSync(request.inputs, 'utf8'));
  const data = readFileSync(path.resolve(path.dirname(request.inputs), inputHeader.data));
  const feed = unpackTensors(tf, inputHeader, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  const { header, bytes } = await runToBytes(tf, modelJson, fileHandler(request.model, modelJson), feed, backend);
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
  const backendAt = args.indexOf('--backend');
  const backend = backendAt >= 0 ? args[backendAt + 1] : 'cpu';
  const positional = backendAt >= 0 ? args.filter((_, i) => i !== backendAt && i !== backendAt + 1) : args;
  const [model, inputs, outputs] = positional;
  if (!outputs) throw new ModelError('usage: node tfjs_runner.mjs MODEL_JSON INPUTS_JSON OUTPUTS_JSON [--backend cpu|wasm]');
  await runOne(load('@tensorflow/tfjs'), { model, inputs, outputs, backend });
}

main().catch((error) => {
  if (process.env.CONVKIT_DEBUG) console.error(error);
  process.stderr.write(`convkit-tfjs-error: ${firstLine(error)}\n`);
  process.exit(1);
});
