// The browser side of `convkit check --browser`: one page per TF.js backend.
//
// The check calls window.convkitRun(job) once per model. The page fetches the
// model and the input tensors from the server that served it, runs the model on
// the job's backend, posts the output tensors back as raw bytes and returns
// their header (names, dtypes, shapes, offsets) with what ran them.

import { loadFromSource, runToBytes, unpackTensors, useBackend, withTopology } from './tfjs_model.mjs';

const tf = window.tf;
tf.wasm.setWasmPaths(new URL('/tfjs-wasm/', window.location.href).href);
let backend = null;

async function fetchOk(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) throw new Error(`${url}: the page server answered ${response.status}`);
  return response;
}

async function run(job) {
  if (backend === null) backend = await useBackend(tf, job.backend);
  if (backend.name !== job.backend) throw new Error(`this page runs ${backend.name}, not ${job.backend}`);
  const modelUrl = new URL(job.model, window.location.href).href;
  const modelJson = await (await fetchOk(modelUrl)).json();
  const inputBytes = new Uint8Array(await (await fetchOk(job.inputs)).arrayBuffer());
  const feed = unpackTensors(tf, job.inputHeader, inputBytes);
  // A second load (another topology for the same weights) reads the weights through the same URL.
  const load = (json = modelJson) => loadFromSource(tf, json,
    json === modelJson ? modelUrl : withTopology(tf, modelUrl, json.modelTopology));
  const { header, bytes } = await runToBytes(tf, modelJson, load, feed, backend);
  await fetchOk(job.outputs, { method: 'POST', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
  return header;
}

// Errors come back as one line, the way the Node runner reports them.
window.convkitRun = async (job) => {
  try {
    return { ok: true, header: await run(job) };
  } catch (error) {
    return { ok: false, error: String(error && error.message ? error.message : error).split('\n')[0] };
  }
};
window.convkitReady = true;
