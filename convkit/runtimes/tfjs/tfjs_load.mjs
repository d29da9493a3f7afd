// Loads a TF.js model from its folder under Node.js, each weight read once: from its shard straight into
// the storage the backend keeps (the wasm heap, or the typed array the cpu backend holds as it is), with
// no joined buffer of the shards and no decoded copy. Quantized weights are dequantized one at a time,
// from a bounded scratch buffer into that storage.
//
// Layers models are built the way tf.loadLayersModel builds them when it has weights (TF.js's own fast
// weight initialization: zeros, kept by the cpu backend as untouched pages), then each manifest weight is
// read into a tensor of its own on the run's backend and assigned to its variable, matched by the rules of
// TF.js's strict LayersModel.loadWeights. Graph models get a weight map of such tensors, handed to
// GraphModel.loadWithWeightMap.
//
// What this path does not cover (string or complex64 weights, Keras 3 style numbered weight names, a
// backend that keeps its data elsewhere) loads through TF.js's own IOHandler path instead, as before.

import { closeSync, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

import { ModelError, isGraphModel } from './tfjs_model.mjs';

// Bytes per read call (Node reads at most 2 GiB at once), and the scratch a quantized weight is read through.
const READ_CHUNK = 64 * 1024 * 1024;
const TYPED = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };
const STORED_BYTES = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

// A manifest group's shards, read as one run of bytes without ever being joined; one file open at a time.
class ShardGroup {
  constructor(modelJsonPath, paths) {
    const folder = path.dirname(path.resolve(modelJsonPath));
    const realFolder = realpathSync(folder);
    this.modelJsonPath = modelJsonPath;
    this.shards = paths.map((relative) => vetShard(folder, realFolder, relative, modelJsonPath));
    this.total = this.shards.reduce((sum, shard) => sum + shard.size, 0);
    this.open = null;
  }

  fd(index) {
    if (this.open && this.open.index === index) return this.open.fd;
    this.close();
    const shard = this.shards[index];
    const fd = openSync(shard.real, 'r');
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size !== shard.size) {
      closeSync(fd);
      throw new ModelError(`${this.modelJsonPath}: weight shard ${shard.relative} changed while it was read`);
    }
    this.open = { index, fd };
    return fd;
  }

  // Reads target.byteLength bytes starting at `offset` of the group into `target` (a Uint8Array).
  read(target, offset, what) {
    if (offset + target.byteLength > this.total) {
      throw new ModelError(`${what} needs bytes beyond the end of its weight shards (${this.total} bytes)`);
    }
    let done = 0;
    let index = 0;
    let shardStart = 0;
    while (done < target.byteLength) {
      const shard = this.shards[index];
      const at = offset + done - shardStart;
      if (at >= shard.size) {
        shardStart += shard.size;
        index += 1;
        continue;
      }
      const want = Math.min(target.byteLength - done, shard.size - at, READ_CHUNK);
      const count = readSync(this.fd(index), target, done, want, at);
      if (count <= 0) throw new ModelError(`${this.modelJsonPath}: weight shard ${shard.relative} ended early`);
      done += count;
    }
  }

  close() {
    if (this.open) closeSync(this.open.fd);
    this.open = null;
  }
}

// A shard must be a regular file inside the model folder (after following links); never a device.
function vetShard(folder, realFolder, relative, modelJsonPath) {
  if (typeof relative !== 'string' || path.isAbsolute(relative)) {
    throw new ModelError(`${modelJsonPath}: weight shard path ${relative} leaves the model folder`);
  }
  let real;
  try {
    real = realpathSync(path.resolve(folder, relative));
  } catch (error) {
    throw new ModelError(`${modelJsonPath}: weight shard ${relative} is missing`);
  }
  const stat = path.relative(realFolder, real).startsWith('..') ? null : statSync(real);
  if (stat === null || !stat.isFile()) {
    throw new ModelError(`${modelJsonPath}: weight shard ${relative} is not a regular file inside the model folder`);
  }
  return { real, size: stat.size, relative };
}

function elementCount(shape) {
  return shape.reduce((product, dim) => product * dim, 1);
}

// Bytes a weight takes in its shards.
function storedBytes(spec) {
  const stored = spec.quantization ? spec.quantization.dtype : spec.dtype || 'float32';
  return elementCount(spec.shape) * STORED_BYTES[stored];
}

// Whether this loader reads the weight; otherwise the whole model loads through TF.js's own path.
function readable(spec) {
  const dtype = spec.dtype || 'float32';
  if (!TYPED[dtype]) return false;
  if (!spec.quantization) return true;
  const stored = spec.quantization.dtype;
  return (stored === 'float16' && dtype === 'float32') || ((stored === 'uint8' || stored === 'uint16') && (dtype === 'float32' || dtype === 'int32'));
}

// float16 bits -> float32 bits, exact for every value (subnormals, infinities, NaN).
let HALF_TO_FLOAT = null;
function halfToFloatTable() {
  if (HALF_TO_FLOAT) return HALF_TO_FLOAT;
  HALF_TO_FLOAT = new Uint32Array(65536);
  for (let half = 0; half < 65536; half += 1) {
    const sign = (half & 0x8000) << 16;
    const exponent = (half >> 10) & 0x1f;
    let mantissa = half & 0x3ff;
    let bits;
    if (exponent === 0x1f) {
      bits = sign | 0x7f800000 | (mantissa << 13);
    } else if (exponent !== 0) {
      bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa === 0) {
      bits = sign;
    } else {
      let shift = 0;
      while ((mantissa & 0x400) === 0) {
        mantissa <<= 1;
        shift += 1;
      }
      bits = sign | ((113 - shift) << 23) | ((mantissa & 0x3ff) << 13);
    }
    HALF_TO_FLOAT[half] = bits >>> 0;
  }
  return HALF_TO_FLOAT;
}

// Fills `values` (the backend's storage of one weight) from the group's bytes at `offset`.
function fill(group, spec, values, offset, what) {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (!spec.quantization) {
    group.read(bytes, offset, what);
    return;
  }
  const { dtype: stored, scale, min } = spec.quantization;
  if (stored !== 'float16' && (typeof scale !== 'number' || typeof min !== 'number')) {
    throw new ModelError(`Weight ${spec.name} with quantization ${stored} doesn't have corresponding metadata min and scale.`);
  }
  const width = STORED_BYTES[stored];
  const perChunk = Math.max(1, Math.floor(READ_CHUNK / width));
  const scratch = new ArrayBuffer(Math.min(values.length, perChunk) * width);
  const table = stored === 'float16' ? halfToFloatTable() : null;
  const bits = table ? new Uint32Array(values.buffer, values.byteOffset, values.length) : null;
  const rounding = values instanceof Int32Array;
  for (let start = 0; start < values.length; start += perChunk) {
    const count = Math.min(perChunk, values.length - start);
    group.read(new Uint8Array(scratch, 0, count * width), offset + start * width, what);
    const quantized = stored === 'uint8' ? new Uint8Array(scratch, 0, count) : new Uint16Array(scratch, 0, count);
    if (table) {
      for (let i = 0; i < count; i += 1) bits[start + i] = table[quantized[i]];
    } else if (rounding) {
      for (let i = 0; i < count; i += 1) values[start + i] = Math.round(quantized[i] * scale + min);
    } else {
      // As TF.js computes it: in double precision, stored as float32.
      for (let i = 0; i < count; i += 1) values[start + i] = quantized[i] * scale + min;
    }
  }
}

// The typed array the backend computes with for `tensor`, written in place; null when the backend keeps
// its data where this loader cannot reach (any backend but wasm and cpu).
function storageOf(tf, tensor) {
  const backend = tf.backend();
  if (typeof backend.typedArrayFromHeap === 'function') return backend.typedArrayFromHeap(tensor);
  const held = backend.data && typeof backend.data.get === 'function' ? backend.data.get(tensor.dataId) : null;
  return held && ArrayBuffer.isView(held.values) && held.values.length === tensor.size ? held.values : null;
}

// A tensor whose storage the caller fills: wasm memory allocated without being written (each weight is
// written to the heap once, from its shard), or a zeroed typed array the cpu backend keeps as it is.
function emptyTensor(tf, shape, dtype) {
  const backend = tf.backend();
  if (typeof backend.typedArrayFromHeap === 'function') {
    return tf.engine().makeTensorFromDataId(backend.write(null, shape, dtype), shape, dtype, backend);
  }
  return tf.tensor(new TYPED[dtype](elementCount(shape)), shape, dtype);
}

// Every manifest weight with its group and byte offset, in order.
function* manifestWeights(modelJsonPath, modelJson) {
  for (const group of modelJson.weightsManifest || []) {
    const shards = new ShardGroup(modelJsonPath, group.paths || []);
    try {
      let offset = 0;
      for (const spec of group.weights || []) {
        yield { spec, group: shards, offset };
        offset += storedBytes(spec);
      }
    } finally {
      shards.close();
    }
  }
}

function artifactsOf(modelJson) {
  const artifacts = {
    modelTopology: modelJson.modelTopology,
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
  };
  for (const key of ['signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature', 'trainingConfig']) {
    if (modelJson[key] != null) artifacts[key] = modelJson[key];
  }
  return artifacts;
}

// Whether this loader can read every weight of the model in place (else TF.js's own path loads it).
export function loadsInPlace(tf, modelJson) {
  const backend = tf.backend();
  const reachable = typeof backend.typedArrayFromHeap === 'function' || (backend.data && typeof backend.data.get === 'function');
  const specs = (modelJson.weightsManifest || []).flatMap((group) => group.weights || []);
  // Keras 3 style names (dense/0) go through TF.js's own renaming in LayersModel.loadWeights.
  const numbered = !isGraphModel(modelJson) && specs.length > 0 && !Number.isNaN(parseInt(specs[0].name.split('/').pop(), 10));
  return reachable && !numbered && specs.every(readable);
}

// The model built by tf.loadLayersModel from the topology with TF.js's fast (zero) weight initialization,
// which it uses when the artifacts carry weights; its weight assignment is stood in for while it builds,
// since each weight is assigned afterwards from its own tensor. The model is built on the cpu backend,
// whose zero weights are untouched pages until they are replaced, where the wasm backend would write every
// zero into its heap; each weight then moves to the run's backend as it is assigned.
async function buildLayersModel(tf, modelJson) {
  const runBackend = tf.getBackend();
  const prototype = tf.LayersModel.prototype;
  const own = Object.prototype.hasOwnProperty.call(prototype, 'loadWeights');
  const original = prototype.loadWeights;
  prototype.loadWeights = function standIn() {};
  try {
    if (runBackend !== 'cpu') await tf.setBackend('cpu');
    const artifacts = { ...artifactsOf(modelJson), weightSpecs: [], weightData: new ArrayBuffer(0) };
    return await tf.loadLayersModel({ load: async () => artifacts }, { strict: true });
  } finally {
    if (own) prototype.loadWeights = original;
    else delete prototype.loadWeights;
    if (tf.getBackend() !== runBackend) await tf.setBackend(runBackend);
  }
}

// Each variable of a layers model by the name TF.js's LayersModel.loadWeights matches it by.
function variablesByName(model) {
  const variables = new Map();
  for (const layer of model.layers) {
    for (const variable of layer.weights) {
      if (variables.has(variable.originalName)) throw new ModelError(`Duplicate weight name: ${variable.originalName}`);
      variables.set(variable.originalName, variable);
    }
  }
  return variables;
}

// Reads one weight into a new tensor on the current backend.
function readWeight(tf, group, spec, offset) {
  const tensor = emptyTensor(tf, spec.shape, spec.dtype || 'float32');
  try {
    const storage = storageOf(tf, tensor);
    if (storage === null) throw new ModelError(`the ${tf.getBackend()} backend keeps weight ${spec.name} where it cannot be read into`);
    fill(group, spec, storage, offset, `weight ${spec.name}`);
    return tensor;
  } catch (error) {
    tensor.dispose();
    throw error;
  }
}

// The weights matched to the variables as TF.js's strict LayersModel.loadWeights matches them, each
// assigned by LayerVariable.write (its shape and dtype checks, and the layer's constraint) as soon as it
// is read, so no more than one weight exists twice at a time.
async function loadLayers(tf, modelJsonPath, modelJson) {
  const model = await buildLayersModel(tf, modelJson);
  try {
    const variables = variablesByName(model);
    const total = variables.size;
    for (const { spec, group, offset } of manifestWeights(modelJsonPath, modelJson)) {
      if (spec.group === 'optimizer') continue;  // optimizer state: nothing an inference run reads
      let name = spec.name;
      if (!variables.has(name)) {  // TF 2.2 put the cell's name in RNN weights: layer/cell/weight
        const tokens = name.split('/');
        name = tokens.slice(0, -2).concat([tokens[tokens.length - 1]]).join('/');
      }
      const variable = variables.get(name);
      if (!variable) throw new ModelError(`Provided weight data has no target variable: ${spec.name}`);
      variables.delete(name);
      const tensor = readWeight(tf, group, spec, offset);
      try {
        variable.write(tensor);
      } finally {
        tensor.dispose();
      }
    }
    if (variables.size > 0) {
      throw new ModelError(`${variables.size} of ${total} weights are not set: ${[...variables.keys()]}`);
    }
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}

async function loadGraph(tf, modelJsonPath, modelJson) {
  const weightMap = {};
  try {
    for (const { spec, group, offset } of manifestWeights(modelJsonPath, modelJson)) {
      if (weightMap[spec.name]) weightMap[spec.name].dispose();  // as tf.io.decodeWeights: the last one stands
      weightMap[spec.name] = readWeight(tf, group, spec, offset);
    }
    const model = new tf.GraphModel({ load: async () => artifactsOf(modelJson) });
    model.loadWithWeightMap(artifactsOf(modelJson), weightMap);
    return model;
  } catch (error) {
    Object.values(weightMap).forEach((tensor) => tensor.dispose());
    throw error;
  }
}

// A model loaded through TF.js's own loaders from an IOHandler over the files: every shard read whole,
// the weights decoded by tf.io.decodeWeights and copied into the backend.
export function fileHandler(modelJsonPath, modelJson) {
  return {
    load: async () => {
      const folder = path.dirname(path.resolve(modelJsonPath));
      const realFolder = realpathSync(folder);
      const weightSpecs = [];
      const weightData = [];
      for (const group of modelJson.weightsManifest || []) {
        for (const relative of group.paths) {
          const bytes = readFileSync(vetShard(folder, realFolder, relative, modelJsonPath).real);
          // One ArrayBuffer per shard (TF.js reads the list as one): no joined copy of a large model.
          weightData.push(bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
            ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        }
        weightSpecs.push(...group.weights);
      }
      return { ...artifactsOf(modelJson), weightSpecs, weightData };
    },
  };
}

// The model at `modelJsonPath` on the current backend: {model, graph, inPlace}. `loader` is 'files'
// (each weight read once, in place, when the model allows it) or 'io' (TF.js's own loaders).
export async function loadModelFiles(tf, modelJsonPath, modelJson, loader = 'files') {
  const graph = isGraphModel(modelJson);
  if (loader === 'files' && loadsInPlace(tf, modelJson)) {
    const model = graph ? await loadGraph(tf, modelJsonPath, modelJson) : await loadLayers(tf, modelJsonPath, modelJson);
    return { model, graph, inPlace: true };
  }
  const handler = fileHandler(modelJsonPath, modelJson);
  const model = graph ? await tf.loadGraphModel(handler) : await tf.loadLayersModel(handler, { strict: true });
  return { model, graph, inPlace: false };
}
