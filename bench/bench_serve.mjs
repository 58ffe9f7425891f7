// bench_serve.mjs - what serving over HTTP costs on top of the engine: the same requests timed
// by the client (openai npm client) and by the server itself (the e2e latency histogram of
// GET /metrics, from submission to the final response), so the difference is the HTTP/JSON/SSE
// path. Then 32 concurrent streaming clients against sequential throughput.
//
// usage: node bench/bench_serve.mjs BASE_URL [TOKENS]   (bench/bench_serve.sh starts the server)
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/peers/package.json'));
const OpenAI = require('openai');

const base = process.argv[2];
const tokens = Number(process.argv[3] ?? 64);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0 });
const body = { model: (await client.models.list()).data[0].id, prompt: [1, 2, 3, 4], max_tokens: tokens, ignore_eos: true, temperature: 0 };

async function serverSeconds() {
  const text = await (await fetch(`${base}/metrics`)).text();
  const sum = Number(text.match(/^mlcc_e2e_request_latency_seconds_sum (\S+)$/m)[1]);
  const count = Number(text.match(/^mlcc_e2e_request_latency_seconds_count (\S+)$/m)[1]);
  return { sum, count };
}

async function timed(label, n, one) {
  await one(); // warm-up
  const before = await serverSeconds();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await one();
  const client_s = (performance.now() - t0) / 1000 / n;
  const after = await serverSeconds();
  const server_s = (after.sum - before.sum) / (after.count - before.count);
  console.log(`${label}: client ${(client_s * 1000).toFixed(2)} ms/request, server ${(server_s * 1000).toFixed(2)} ms/request, ` +
              `HTTP path ${((client_s - server_s) * 1000).toFixed(2)} ms (${(100 * (client_s - server_s) / client_s).toFixed(1)}%), ` +
              `${(tokens / client_s).toFixed(0)} tokens/s`);
  return client_s;
}

const n = 20;
const seq = await timed(`non-streaming, ${tokens} tokens`, n, () => client.completions.create(body));
await timed(`streaming (SSE), ${tokens} tokens`, n, async () => {
  const s = await client.completions.create({ ...body, stream: true });
  for await (const _ of s) { /* consume */ }
});

// 32 concurrent streaming clients: the engine batches them (up to its max batch), so the
// aggregate rate against the sequential one shows what batching gains.
const clients = 32;
const ttft = [];
const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, async () => {
  const start = performance.now();
  const s = await client.completions.create({ ...body, stream: true });
  let first = true;
  for await (const _ of s) if (first) { ttft.push(performance.now() - start); first = false; }
}));
const wall = (performance.now() - t0) / 1000;
ttft.sort((a, b) => a - b);
console.log(`${clients} concurrent streams: ${(clients * tokens / wall).toFixed(0)} tokens/s aggregate ` +
            `(${((clients * tokens / wall) / (tokens / seq)).toFixed(2)}x the sequential non-streaming rate); ` +
            `TTFT p50 ${ttft[clients / 2].toFixed(0)} ms, max ${ttft[clients - 1].toFixed(0)} ms`);
