// Class probabilities of images by an exported sgdlab network, with ONNX Runtime for
// Node (npm install onnxruntime-node). tests/onnx_export_test.sh runs it.
//
// usage: node tools/onnx_predict.js MODEL.onnx IMAGES.f32 C H W OUT.f32
//   IMAGES.f32: float32 [N, C, H, W], little-endian, prepared as the model's "preprocessing"
//   metadata says; OUT.f32: float32 [N, classes], the "probabilities" output.
const ort = require('onnxruntime-node');
const fs = require('fs');

async function main() {
  const [model, images, C, H, W, out] = process.argv.slice(2);
  if (!out) throw new Error('usage: node onnx_predict.js MODEL.onnx IMAGES.f32 C H W OUT.f32');
  const session = await ort.InferenceSession.create(model);
  const bytes = fs.readFileSync(images);
  const x = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const n = x.length / (C * H * W);
  const input = new ort.Tensor('float32', x, [n, +C, +H, +W]);
  const { probabilities } = await session.run({ input });
  const p = probabilities.data;
  fs.writeFileSync(out, Buffer.from(p.buffer, p.byteOffset, p.byteLength));
}

main().catch((e) => {
  console.error(`onnx_predict: ${e.message.split('\n')[0]}`);
  process.exit(1);
});
