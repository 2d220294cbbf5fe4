// face_api_reference.mjs
// Computes reference 128-d face descriptors with the original TF.js
// FaceRecognitionNet of @vladmandic/face-api@1.7.15, run on the pure-JS tfjs
// 'cpu' backend. Uses face-api's own Node build dist/face-api.node-wasm.js
// (CommonJS; requires @tensorflow/tfjs + @tensorflow/tfjs-backend-wasm 4.22.0,
// the same tfjs version face-api 1.7.15 bundles). Its bundled ESM build fails to
// start under Node 20, hence the CommonJS Node build.
// Each input is a raw 150x150x3 uint8 RGB file (row-major HWC); since it is
// already 150x150, computeFaceDescriptor does no resize.
//
// Usage: node face_api_reference.mjs MODEL_DIR INPUT.rgb... > reference.json
// Setup (once, in a scratch folder holding a copy of this script):
//   npm pack @vladmandic/face-api@1.7.15 && mkdir face-api && tar xzf vladmandic-face-api-1.7.15.tgz \
//     -C face-api --strip-components=1
//   npm install @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
// The inputs of tests/faces/face_api_reference.json are the slices cut in tests/faces/test_face_api.py
// (`_inputs`), written as raw bytes; e.g.
//   node face_api_reference.mjs face-api/model inputs/{astronaut,obama,biden,noise}.rgb
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';

const faceapi = createRequire(import.meta.url)('./face-api/dist/face-api.node-wasm.js');

const [modelDir, ...inputs] = process.argv.slice(2);
if (!modelDir || inputs.length === 0) {
  console.error('usage: node face_api_reference.mjs MODEL_DIR INPUT.rgb...');
  process.exit(1);
}
const tf = faceapi.tf;
await tf.setBackend('cpu');
await tf.ready();

// Load weights: manifest JSON + .bin, decoded with tf.io.decodeWeights.
const manifest = JSON.parse(fs.readFileSync(path.join(modelDir, 'face_recognition_model-weights_manifest.json'), 'utf8'));
const bin = fs.readFileSync(path.join(modelDir, manifest[0].paths[0]));
const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
const net = faceapi.nets.faceRecognitionNet;
net.loadFromWeightMap(tf.io.decodeWeights(buffer, manifest[0].weights));

const descriptors = {};
for (const file of inputs) {
  const bytes = fs.readFileSync(file);
  if (bytes.length !== 150 * 150 * 3) throw new Error(`${file}: expected 67500 bytes, got ${bytes.length}`);
  const t = tf.tensor3d(Int32Array.from(bytes), [150, 150, 3], 'int32');
  const d = await net.computeFaceDescriptor(t);
  t.dispose();
  descriptors[path.basename(file).replace(/\.rgb$/, '')] = Array.from(d);
}
console.log(JSON.stringify({ package: '@vladmandic/face-api@1.7.15', tfjs: tf.version_core, backend: tf.getBackend(), descriptors }, null, 1));
