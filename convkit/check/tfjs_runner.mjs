// Runs a TF.js model (layers or graph) in real TF.js under Node.js, for `convkit check`.
//
// Usage: node tfjs_runner.mjs MODEL_JSON INPUTS_JSON OUTPUTS_JSON
//
// INPUTS_JSON names a binary file of raw little-endian tensors and lists each
// tensor's name, dtype, shape, byte offset and length. The outputs are written
// the same way (OUTPUTS_JSON plus OUTPUTS_JSON's ".bin" sibling). Inference only:
// layers models run through predict(), graph models through execute().
// @tensorflow/tfjs is resolved from CONVKIT_NODE_ROOT (a directory holding
// node_modules) or from this script's folder upward.

import { createRequire } from 'node:module';
import { readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BATCH_SIZE = 256;
const MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024;

function fail(message) {
  process.stderr.write(`convkit-tfjs-error: ${message}\n`);
  process.exit(1);
}

function loadTf() {
  const require = createRequire(import.meta.url);
  const roots = [process.env.CONVKIT_NODE_ROOT, path.dirname(fileURLToPath(import.meta.url))].filter(Boolean);
  let resolved;
  try {
    resolved = require.resolve('@tensorflow/tfjs', { paths: roots });
  } catch (error) {
    fail(`cannot find @tensorflow/tfjs from ${roots.join(', ')}; run 'npm ci' in the project`);
  }
  return require(resolved);
}

// A shard must be a regular file inside the model folder (after following links); never a device.
function readShard(folder, relative, modelJsonPath) {
  if (typeof relative !== 'string' || path.isAbsolute(relative)) {
    fail(`${modelJsonPath}: weight shard path ${relative} leaves the model folder`);
  }
  let real;
  try {
    real = realpathSync(path.resolve(folder, relative));
  } catch (error) {
    fail(`${modelJsonPath}: weight shard ${relative} is missing`);
  }
  const realFolder = realpathSync(folder);
  if (path.relative(realFolder, real).startsWith('..') || !statSync(real).isFile()) {
    fail(`${modelJsonPath}: weight shard ${relative} is not a regular file inside the model folder`);
  }
  return readFileSync(real);
}

// An IOHandler reading model.json and its weight shards from disk (tf.io has none in plain @tensorflow/tfjs).
function fileHandler(modelJsonPath) {
  return {
    load: async () => {
      const text = readFileSync(modelJsonPath);
      if (text.length > MAX_MODEL_JSON_BYTES) fail(`${modelJsonPath} is larger than ${MAX_MODEL_JSON_BYTES} bytes`);
      const modelJson = JSON.parse(text.toString('utf8'));
      const folder = path.dirname(path.resolve(modelJsonPath));
      const weightSpecs = [];
      const buffers = [];
      for (const group of modelJson.weightsManifest || []) {
        for (const relative of group.paths) {
          buffers.push(readShard(folder, relative, modelJsonPath));
        }
        weightSpecs.push(...group.weights);
      }
      const joined = Buffer.concat(buffers);
      const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
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

const TYPED = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

function readTensors(tf, headerPath) {
  const header = JSON.parse(readFileSync(headerPath, 'utf8'));
  const data = readFileSync(path.resolve(path.dirname(headerPath), header.data));
  const tensors = {};
  for (const entry of header.tensors) {
    const Typed = TYPED[entry.dtype];
    if (!Typed) fail(`input ${entry.name}: dtype ${entry.dtype} is not one TF.js runs`);
    const bytes = data.subarray(entry.offset, entry.offset + entry.byteLength);
    const copy = new Uint8Array(bytes).buffer; // aligned copy
    tensors[entry.name] = tf.tensor(new Typed(copy), entry.shape, entry.dtype);
  }
  return { names: header.tensors.map((e) => e.name), tensors };
}

function writeTensors(headerPath, named, extra) {
  const entries = [];
  const chunks = [];
  let offset = 0;
  for (const [name, tensor] of named) {
    const values = tensor.dataSync();
    const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    entries.push({ name, dtype: tensor.dtype, shape: tensor.shape, offset, byteLength: bytes.length });
    chunks.push(bytes);
    offset += bytes.length;
  }
  const dataName = path.basename(headerPath) + '.bin';
  writeFileSync(path.resolve(path.dirname(headerPath), dataName), Buffer.concat(chunks));
  writeFileSync(headerPath, JSON.stringify({ ...extra, data: dataName, tensors: entries }));
}

// Picks the model's inputs from the feed: by name when the names agree, else by position.
function arrange(modelNames, feed, notes) {
  if (modelNames.every((name) => name in feed.tensors)) return modelNames.map((name) => feed.tensors[name]);
  if (modelNames.length === feed.names.length) {
    notes.push(`inputs fed by position: ${feed.names.join(', ')} -> ${modelNames.join(', ')}`);
    return feed.names.map((name) => feed.tensors[name]);
  }
  fail(`the model takes inputs [${modelNames.join(', ')}] but was given [${feed.names.join(', ')}]`);
}

function layerName(symbolicTensor) {
  return symbolicTensor.sourceLayer ? symbolicTensor.sourceLayer.name : symbolicTensor.name;
}

function batchCount(tensors) {
  return tensors.length ? tensors[0].shape[0] : 0;
}

async function runInBatches(tf, inputs, runBatch) {
  const total = batchCount(inputs);
  const pieces = [];
  for (let start = 0; start < Math.max(total, 1); start += BATCH_SIZE) {
    const size = Math.min(BATCH_SIZE, total - start);
    const part = inputs.map((t) => t.slice(start, size));
    pieces.push(await runBatch(part));
    part.forEach((t) => t.dispose());
  }
  return pieces[0].map((_, i) => (pieces.length === 1 ? pieces[0][i] : tf.concat(pieces.map((p) => p[i]), 0)));
}

async function main() {
  const [modelJsonPath, inputsPath, outputsPath] = process.argv.slice(2);
  if (!outputsPath) fail('usage: node tfjs_runner.mjs MODEL_JSON INPUTS_JSON OUTPUTS_JSON');
  const tf = loadTf();
  await tf.setBackend('cpu');
  const modelJson = JSON.parse(readFileSync(modelJsonPath, 'utf8'));
  const isGraph = modelJson.format === 'graph-model' || (modelJson.modelTopology && Array.isArray(modelJson.modelTopology.node));
  const feed = readTensors(tf, inputsPath);
  const notes = [];
  let inputNames;
  let outputNames;
  let outputs;
  if (isGraph) {
    const model = await tf.loadGraphModel(fileHandler(modelJsonPath));
    const signature = model.signature || modelJson.signature;
    const useSignature = signature && signature.inputs && signature.outputs;
    inputNames = useSignature ? Object.keys(signature.inputs) : model.inputNodes;
    outputNames = useSignature ? Object.keys(signature.outputs) : model.outputNodes;
    const ordered = arrange(inputNames, feed, notes);
    outputs = await runInBatches(tf, ordered, async (part) => {
      const dict = {};
      inputNames.forEach((name, i) => { dict[name] = part[i]; });
      let result;
      try {
        result = model.execute(dict, outputNames);
      } catch (error) {
        if (!String(error.message).includes('executeAsync')) throw error;
        result = await model.executeAsync(dict, outputNames);
      }
      return Array.isArray(result) ? result : [result];
    });
  } else {
    const model = await tf.loadLayersModel(fileHandler(modelJsonPath), { strict: true });
    // A Sequential model leaves inputNames/outputNames empty; its symbolic tensors name their layers.
    inputNames = model.inputNames.length ? model.inputNames : model.inputs.map((t) => layerName(t));
    outputNames = model.outputNames.length ? model.outputNames : model.outputs.map((t) => layerName(t));
    const ordered = arrange(inputNames, feed, notes);
    outputs = await runInBatches(tf, ordered, async (part) => {
      const result = model.predict(part.length === 1 ? part[0] : part, { batchSize: BATCH_SIZE });
      return Array.isArray(result) ? result : [result];
    });
  }
  writeTensors(outputsPath, outputNames.map((name, i) => [name, outputs[i]]), {
    kind: isGraph ? 'graph' : 'layers',
    inputNames,
    outputNames,
    notes,
    tfjsVersion: tf.version.tfjs,
    backend: tf.getBackend(),
  });
}

main().catch((error) => { if (process.env.CONVKIT_DEBUG) console.error(error); fail(String(error && error.message ? error.message : error).split("\n")[0]); });
