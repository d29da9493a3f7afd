// What convkit check does with a TF.js model once TF.js is loaded, wherever it runs:
// in Node (tfjs_runner.mjs) and in a browser page (tfjs_page.html) alike.
//
// Tensors travel as one raw little-endian byte buffer plus a header listing each
// tensor's name, dtype, shape, byte offset and length. Inference only: layers
// models run through predict(), graph models through execute() (executeAsync()
// when the graph has control flow). Nothing here touches the file system or the
// network; the caller loads the model (the Node runner from the files with
// tfjs_load.mjs, the page from a URL with loadFromSource).

export const BATCH_SIZE = 256;

// What each backend name means: the TF.js backend and the flags set before it starts.
export const BACKENDS = {
  cpu: { backend: 'cpu', flags: {} },
  wasm: { backend: 'wasm', flags: {} },
  webgl: { backend: 'webgl', flags: { WEBGL_FORCE_F16_TEXTURES: false } },
  'webgl-f16': { backend: 'webgl', flags: { WEBGL_FORCE_F16_TEXTURES: true } },
};

const TYPED = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

export class ModelError extends Error {}

// Switches TF.js to the named backend and proves it took: setBackend falls back silently otherwise.
export async function useBackend(tf, name) {
  const wanted = BACKENDS[name];
  if (!wanted) throw new ModelError(`unknown TF.js backend ${name}; known: ${Object.keys(BACKENDS).join(', ')}`);
  for (const [flag, value] of Object.entries(wanted.flags)) tf.env().set(flag, value);
  let ready = false;
  try {
    ready = await tf.setBackend(wanted.backend);
  } catch (error) {
    throw new ModelError(`the TF.js ${wanted.backend} backend did not start: ${error.message || error}`);
  }
  if (!ready || tf.getBackend() !== wanted.backend) {
    throw new ModelError(`the TF.js ${wanted.backend} backend did not start here (TF.js chose ${tf.getBackend()})`);
  }
  await tf.ready();
  return describeBackend(tf, name);
}

// What actually ran: for WebGL the texture precision and the renderer, which differ by device.
function describeBackend(tf, name) {
  const info = { name, backend: tf.getBackend() };
  if (info.backend === 'webgl') {
    info.webglVersion = tf.env().getNumber('WEBGL_VERSION');
    info.float32Textures = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED') && !tf.env().getBool('WEBGL_FORCE_F16_TEXTURES');
    try {
      const gl = tf.backend().gpgpu.gl;
      const debug = gl.getExtension('WEBGL_debug_renderer_info');
      info.renderer = debug ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    } catch (error) {
      info.renderer = 'unknown';
    }
  }
  if (info.backend === 'wasm') {
    info.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    info.threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
  }
  return info;
}

// header: {tensors: [{name, dtype, shape, offset, byteLength}]}; bytes: a Uint8Array holding them all.
export function unpackTensors(tf, header, bytes) {
  const tensors = {};
  for (const entry of header.tensors) {
    const Typed = TYPED[entry.dtype];
    if (!Typed) throw new ModelError(`input ${entry.name}: dtype ${entry.dtype} is not one TF.js runs`);
    const copy = bytes.slice(entry.offset, entry.offset + entry.byteLength).buffer; // aligned copy
    tensors[entry.name] = tf.tensor(new Typed(copy), entry.shape, entry.dtype);
  }
  return { names: header.tensors.map((entry) => entry.name), tensors };
}

// The opposite of unpackTensors: [[name, tensor]] -> {entries, bytes}.
export async function packTensors(named) {
  const entries = [];
  const chunks = [];
  let offset = 0;
  for (const [name, tensor] of named) {
    const values = await tensor.data();
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    entries.push({ name, dtype: tensor.dtype, shape: tensor.shape, offset, byteLength: bytes.length });
    chunks.push(bytes);
    offset += bytes.length;
  }
  const joined = new Uint8Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk, at);
    at += chunk.length;
  }
  return { entries, bytes: joined };
}

export function isGraphModel(modelJson) {
  return modelJson.format === 'graph-model' || Boolean(modelJson.modelTopology && Array.isArray(modelJson.modelTopology.node));
}

// Picks the model's inputs from the feed: by name when the names agree, else by position.
function arrange(modelNames, feed, notes) {
  if (modelNames.every((name) => name in feed.tensors)) return modelNames.map((name) => feed.tensors[name]);
  if (modelNames.length === feed.names.length) {
    notes.push(`inputs fed by position: ${feed.names.join(', ')} -> ${modelNames.join(', ')}`);
    return feed.names.map((name) => feed.tensors[name]);
  }
  throw new ModelError(`the model takes inputs [${modelNames.join(', ')}] but was given [${feed.names.join(', ')}]`);
}

function layerName(symbolicTensor) {
  return symbolicTensor.sourceLayer ? symbolicTensor.sourceLayer.name : symbolicTensor.name;
}

// Runs `runBatch` on slices of `inputs`; a model whose signature fixes the batch (`fixedBatch`) gets slices of
// exactly that size, the last one padded with zeros and the padding cut from its outputs.
async function runInBatches(tf, inputs, runBatch, fixedBatch = 0) {
  const total = inputs.length ? inputs[0].shape[0] : 0;
  const batchSize = fixedBatch > 0 ? fixedBatch : BATCH_SIZE;
  const pieces = [];
  for (let start = 0; start < Math.max(total, 1); start += batchSize) {
    const size = Math.min(batchSize, total - start);
    let part = inputs.map((t) => t.slice(start, size));
    if (fixedBatch > 0 && size < batchSize) {
      const padded = part.map((t) => tf.concat([t, tf.zeros([batchSize - size, ...t.shape.slice(1)], t.dtype)], 0));
      part.forEach((t) => t.dispose());
      part = padded;
    }
    let result = await runBatch(part, start + batchSize >= total);
    if (fixedBatch > 0 && size < batchSize) {
      const cut = result.map((t) => t.slice(0, size));
      result.forEach((t) => t.dispose());
      result = cut;
    }
    pieces.push(result);
    part.forEach((t) => t.dispose());
  }
  if (pieces.length === 1) return pieces[0];
  const joined = pieces[0].map((_, i) => tf.concat(pieces.map((p) => p[i]), 0));
  pieces.flat().forEach((t) => t.dispose());
  return joined;
}

// The batch size a graph model's signature fixes for its inputs, or 0 when it leaves the batch open.
function signatureBatch(signature, inputNames) {
  const sizes = inputNames.map((name) => {
    const dims = (((signature || {}).inputs || {})[name] || {}).tensorShape;
    const first = dims && dims.dim && dims.dim[0];
    return first ? Number(first.size) : -1;
  });
  return sizes.length && sizes.every((size) => size > 0 && size === sizes[0]) ? sizes[0] : 0;
}

// TF1-style loop ops: a graph holding them runs in TF.js's dynamic executor (executeAsync).
const LOOP_OPS = new Set(['Enter', 'Exit', 'Merge', 'Switch', 'NextIteration', 'LoopCond']);

// The topology without control inputs and no-ops, for a graph with TF1-style loops that has some; else null.
function withoutLoopControlEdges(topology) {
  const nodes = (topology && topology.node) || [];
  if (!nodes.some((node) => LOOP_OPS.has(node.op))) return null;
  if (!nodes.some((node) => (node.input || []).some((name) => name.startsWith('^')))) return null;
  return {
    ...topology,
    node: nodes.filter((node) => node.op !== 'NoOp')
      .map((node) => ({ ...node, input: (node.input || []).filter((name) => !name.startsWith('^')) })),
  };
}

// `source` (an IOHandler or URL) with its model topology replaced.
export function withTopology(tf, source, topology) {
  const base = typeof source === 'string' ? tf.io.http(source) : source;
  return { load: async () => ({ ...(await base.load()), modelTopology: topology }) };
}

const NAME_COLLATOR = new Intl.Collator('en', { numeric: true });

function byName(a, b) {
  return NAME_COLLATOR.compare(a, b);
}

// Runs a loaded graph model on `feed` and disposes it: {inputNames, outputNames, outputs}.
async function runGraph(tf, modelJson, model, feed, notes) {
  try {
    const signature = model.signature || modelJson.signature;
    const useSignature = signature && signature.inputs && signature.outputs;
    // A signature is a protobuf map written in no set order: output_2 before output_10, by name.
    const inputNames = useSignature ? Object.keys(signature.inputs).sort(byName) : model.inputNodes;
    const outputNames = useSignature ? Object.keys(signature.outputs).sort(byName) : model.outputNodes;
    const ordered = arrange(inputNames, feed, notes);
    const outputs = await runInBatches(tf, ordered, async (part) => {
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
    }, useSignature ? signatureBatch(signature, inputNames) : 0);
    return { inputNames, outputNames, outputs };
  } finally {
    model.dispose();
  }
}

// The model at `source` (an IOHandler or URL) through TF.js's own loaders: {model, graph}.
export async function loadFromSource(tf, modelJson, source) {
  const graph = isGraphModel(modelJson);
  const model = graph ? await tf.loadGraphModel(source) : await tf.loadLayersModel(source, { strict: true });
  return { model, graph };
}

// Frees each layer's weights once the layer has run for the last time, in the last batch of a run whose
// model is discarded afterwards. Backends that prepare a copy of a weight for their kernels (the wasm
// backend packs every Dense and Conv kernel for XNNPACK) then hold one such copy at a time, not one per
// layer. Layers called more than once (shared layers) keep their weights to the end. Returns the weights
// freed, for disposeLayersModel.
function releaseAsUsed(model) {
  const released = new Set();
  for (const layer of model.layers) {
    if (!layer.weights.length || layer.inboundNodes.length !== 1) continue;
    const call = layer.call;
    layer.call = function callThenRelease(...args) {
      const outputs = call.apply(this, args);
      layer.call = call;
      for (const weight of layer.weights) {
        if (!released.has(weight)) {
          weight.dispose();
          released.add(weight);
        }
      }
      return outputs;
    };
  }
  return released;
}

function disposeLayersModel(model, released) {
  if (!released) {
    model.dispose();
    return;
  }
  for (const weight of model.weights) {
    if (!released.has(weight)) weight.dispose();
  }
}

// Runs a loaded model ({model, graph}) on `feed` and returns {kind, inputNames, outputNames, notes,
// named: [[name, tensor]]}; the model is disposed. The caller disposes the tensors.
// `release`: free each layer's weights after its last use (see releaseAsUsed). `reload(modelJson)`: the
// same model loaded again with another topology (a graph whose loop control inputs TF.js cannot schedule).
export async function runModel(tf, modelJson, loaded, feed, { release = false, reload = null } = {}) {
  const notes = [];
  const { model, graph } = loaded;
  let inputNames;
  let outputNames;
  let outputs;
  if (graph) {
    let ran;
    try {
      ran = await runGraph(tf, modelJson, model, feed, notes);
    } catch (error) {
      const stripped = withoutLoopControlEdges(modelJson.modelTopology);
      if (!stripped || !reload || !String(error.message).includes('Cannot compute the outputs')) throw error;
      const again = await reload({ ...modelJson, modelTopology: stripped });
      ran = await runGraph(tf, modelJson, again.model, feed, notes);
      notes.push('TF.js executeAsync cannot schedule the control inputs of this graph\'s while loops (it reads ' +
        'them as data inputs), so it ran without them and the no-ops that carry them (they change no value)');
    }
    ({ inputNames, outputNames, outputs } = ran);
  } else {
    let released = null;
    try {
      // A Sequential model leaves inputNames/outputNames empty; its symbolic tensors name their layers.
      inputNames = model.inputNames.length ? model.inputNames : model.inputs.map((t) => layerName(t));
      outputNames = model.outputNames.length ? model.outputNames : model.outputs.map((t) => layerName(t));
      const ordered = arrange(inputNames, feed, notes);
      outputs = await runInBatches(tf, ordered, async (part, last) => {
        if (last && release) released = releaseAsUsed(model);
        const result = model.predict(part.length === 1 ? part[0] : part, { batchSize: BATCH_SIZE });
        return Array.isArray(result) ? result : [result];
      });
    } finally {
      disposeLayersModel(model, released);
    }
  }
  return {
    kind: graph ? 'graph' : 'layers',
    inputNames,
    outputNames,
    notes,
    named: outputNames.map((name, i) => [name, outputs[i]]),
  };
}

function seconds(started) {
  return (performance.now() - started) / 1000;
}

// CPU seconds (user + system) of this process, where the host can tell (Node); null in a page.
function cpuSeconds() {
  if (typeof process === 'undefined' || typeof process.cpuUsage !== 'function') return null;
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function cpuSince(started) {
  return started === null ? null : cpuSeconds() - started;
}

// Loads the model (`load()` resolves to {model, graph}; `load(otherModelJson)` loads it with that model.json's
// topology instead), runs it and returns the outputs as bytes:
// {header, bytes}, the header naming what ran the model and, in `profile`, the seconds of each stage and
// what `probe()` (if given) says of memory after it. Disposes the feed's tensors and the outputs.
export async function runToBytes(tf, modelJson, load, feed, backend, { probe = null, release = false } = {}) {
  try {
    const profile = { idle: probe ? probe() : null };
    let started = performance.now();
    let cpuStarted = cpuSeconds();
    const loaded = await load();
    profile.load = { seconds: seconds(started), cpuSeconds: cpuSince(cpuStarted), memory: probe ? probe() : null,
      inPlace: Boolean(loaded.inPlace) };
    started = performance.now();
    cpuStarted = cpuSeconds();
    const result = await runModel(tf, modelJson, loaded, feed, { release, reload: load });
    const { entries, bytes } = await packTensors(result.named);
    result.named.forEach(([, tensor]) => tensor.dispose());
    profile.run = { seconds: seconds(started), cpuSeconds: cpuSince(cpuStarted), memory: probe ? probe() : null };
    const header = {
      kind: result.kind,
      inputNames: result.inputNames,
      outputNames: result.outputNames,
      notes: result.notes,
      tfjsVersion: tf.version.tfjs,
      backend,
      profile,
      tensors: entries,
    };
    return { header, bytes };
  } finally {
    Object.values(feed.tensors).forEach((tensor) => tensor.dispose());
  }
}
