// logprobs_llamacpp.mjs - llama.cpp's next-token log-probabilities after each token of a prompt
// (for comparing its int8-activation error with mlcc's: bench/int8_error.py). Each position is
// evaluated on a fresh sequence holding the prompt's prefix (prefill of the prefix, then the
// probabilities of the next token at temperature 1, no top-k / top-p / min-p / penalties, so
// they are softmax(logits)). Prints one JSON line: {"logprobs": [[vocab floats] per position]}.
// usage: node logprobs_llamacpp.mjs MODEL.gguf ID,ID,... [--threads 2]
import { getLlama } from "node-llama-cpp";

const args = process.argv.slice(2);
const model = args[0], ids = args[1].split(",").map(Number);
const ti = args.indexOf("--threads"), threads = ti >= 0 ? Number(args[ti + 1]) : 2;
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const m = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
const vocab = m.fileInfo.metadata.tokenizer?.ggml?.tokens?.length;
const ctx = await m.createContext({ contextSize: Math.max(64, ids.length + 8), batchSize: Math.max(32, ids.length), threads });
const out = [];
for (let i = 1; i <= ids.length; i++) {
    const seq = ctx.getSequence();
    const gen = seq.evaluateWithMetadata(ids.slice(0, i), { probabilities: true },
                                         { temperature: 1, topK: 0, topP: 1, minP: 0, yieldEogToken: true });
    const { value } = await gen.next();
    const row = new Array(vocab).fill(-Infinity);
    for (const [tok, p] of value.probabilities) row[tok] = Math.log(p);
    out.push(row);
    await gen.return();
    seq.dispose();
}
console.log(JSON.stringify({ vocab, logprobs: out }));
process.exit(0);
