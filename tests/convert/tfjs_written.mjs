// TF.js layers models written by TF.js itself (model.save), for the tests of TF.js-written sources.
//
//   node tfjs_written.mjs KIND OUT_FOLDER
//
// KIND: bidirectional (a Bidirectional LSTM, sigmoid gates), bidirectional-hard (the same with TF.js'
// default hard_sigmoid gates), teachable (a Sequential holding two Sequentials, as Teachable Machine
// exports its image models: a functional base and a pooling layer, then a head). Every weight gets seeded random values (moving variances positive), and
// the model is saved through tf.io.withSaveHandler as model.json + weights.bin, the way TF.js'
// browser and Node file handlers write them. @tensorflow/tfjs is resolved from CONVKIT_NODE_ROOT.

import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const tf = require(require.resolve('@tensorflow/tfjs', { paths: [process.env.CONVKIT_NODE_ROOT || '.'] }));

function bidirectional(recurrentActivation) {
  const model = tf.sequential();
  model.add(tf.layers.bidirectional({
    layer: tf.layers.lstm({ units: 4, recurrentActivation }), inputShape: [5, 3],
  }));
  model.add(tf.layers.dense({ units: 2 }));
  return model;
}

function teachable() {
  // As Teachable Machine builds it: a truncated functional base (MobileNet there) and a pooling layer in one
  // Sequential, the trained head in another, both inside a third.
  const image = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, useBias: false }).apply(image);
  x = tf.layers.batchNormalization().apply(x);
  x = tf.layers.reLU().apply(x);
  const base = tf.model({ inputs: image, outputs: x });
  const features = tf.sequential();
  features.add(base);
  features.add(tf.layers.globalAveragePooling2d({}));
  const head = tf.sequential();
  head.add(tf.layers.dense({ inputShape: [4], units: 5, activation: 'relu' }));
  head.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  const model = tf.sequential();
  model.add(features);
  model.add(head);
  return model;
}

const builders = {
  bidirectional: () => bidirectional('sigmoid'),
  'bidirectional-hard': () => bidirectional('hardSigmoid'),
  teachable,
};

async function main() {
  const [kind, out] = process.argv.slice(2);
  const model = builders[kind]();
  let seed = 1;
  model.setWeights(model.weights.map((weight) => {
    const values = tf.randomNormal(weight.shape, 0, 0.3, 'float32', seed++);
    return weight.originalName.endsWith('moving_variance') ? values.abs().add(0.5) : values;
  }));
  mkdirSync(out, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const data = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    writeFileSync(path.join(out, 'weights.bin'), Buffer.from(data));
    writeFileSync(path.join(out, 'model.json'), JSON.stringify({
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
    }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
