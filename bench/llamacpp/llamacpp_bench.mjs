// llamacpp_bench.mjs - llama.cpp on a GGUF file, measured as `mlcc bench` measures batch 1:
// prefill tokens/s of a prompt of random token ids, then decode tokens/s of greedy tokens
// (each step one token through the KV cache). Prints one JSON line:
//   {"impl": "llama.cpp", "prefill_tok_s", "decode_tok_s", "threads", "prompt_len", "gen_len", "load_s"}
// usage: node llamacpp_bench.mjs MODEL.gguf [--prompt-len 128] [--gen-len 64] [--threads 2] [--repeat 3]
// With --check it only loads the model and evaluates a few tokens (the GGUF writer's test).
import { getLlama } from "node-llama-cpp";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
};
const model = args[0];
const promptLen = opt("--prompt-len", 128), genLen = opt("--gen-len", 64), threads = opt("--threads", 2), repeat = opt("--repeat", 3);
const check = args.includes("--check");

const median = (v) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const t0 = performance.now();
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const m = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
const loadS = (performance.now() - t0) / 1e3;
const vocab = m.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 256;
const ctx = await m.createContext({ contextSize: Math.max(256, promptLen + genLen + 16), batchSize: Math.max(promptLen, 32), threads });
let seed = 12345;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const prompt = () => Array.from({ length: promptLen }, () => 3 + Math.floor(rand() * (vocab - 3)));

if (check) {
    const seq = ctx.getSequence();
    const out = [], ids = prompt().slice(0, 8);
    for await (const tok of seq.evaluate(ids, { temperature: 0 })) {
        out.push(tok);
        if (out.length === 8) break;
    }
    console.log(JSON.stringify({ impl: "llama.cpp", loaded: true, architecture: m.fileInfo.metadata.general.architecture,
                                 vocab, prompt: ids, tokens: out }));
    process.exit(0);
}

const prefill = [], decode = [];
for (let r = -1; r < repeat; r++) { // r = -1: warm-up
    const seq = ctx.getSequence();
    let t = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt());
    const pf = promptLen / ((performance.now() - t) / 1e3);
    let n = 0;
    t = performance.now();
    for await (const tok of seq.evaluate([3], { temperature: 0 })) {
        void tok;
        if (++n === genLen) break;
    }
    const dc = n / ((performance.now() - t) / 1e3);
    if (r >= 0) prefill.push(pf), decode.push(dc);
    seq.dispose();
}
console.log(JSON.stringify({ impl: "llama.cpp", prefill_tok_s: median(prefill), decode_tok_s: median(decode), threads,
                             prompt_len: promptLen, gen_len: genLen, load_s: loadS }));
process.exit(0);
