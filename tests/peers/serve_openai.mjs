// serve_openai.mjs - drives a running `mlcc serve` with the official `openai` npm client, as an
// application would, and checks the answers against independent references: transformers'
// greedy continuation of the fixture conversation (meta.json greedy_ids, decoded by the npm
// `tokenizers` binding of Hugging Face tokenizers) and its prompt length.
//
// Structured generation (response_format json_schema, tools with tool_choice required, streamed
// tool calls) is checked with the independent validator $MLCC_TESTDATA/json-schema/validate.py
// (Debian's python3-jsonschema, Draft 2020-12 with formats).
//
// usage: node serve_openai.mjs BASE_URL API_KEY MODEL_DIR
// Prints "N passed, M failed" and exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');

const [base, apiKey, modelDir] = process.argv.slice(2);
const meta = JSON.parse(fs.readFileSync(`${modelDir}/meta.json`, 'utf8'));
const tokenizer = Tokenizer.fromFile(`${modelDir}/tokenizer.json`);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 120000 });
const MODEL = 'tm-llama3';

let passed = 0, failed = 0;
function check(cond, what, detail) {
  if (cond) passed++;
  else {
    failed++;
    console.log(`FAILED: ${what}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
  }
}
const eq = (a, b, what) => check(a === b, what, { got: a, want: b });

async function decode(ids) {
  return tokenizer.decode(ids, true);
}

async function metrics() {
  const text = await (await fetch(`${base}/metrics`)).text();
  const get = (name) => {
    const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, (c) => '\\' + c)} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : 0;
  };
  return { text, get };
}

async function expectError(promise, status, param, what) {
  try {
    await promise;
    check(false, `${what}: no error`);
  } catch (e) {
    check(e instanceof OpenAI.APIError, `${what}: APIError`, String(e));
    eq(e.status, status, `${what}: status`);
    if (param !== undefined) eq(e.param ?? null, param, `${what}: param`);
    check(typeof e.error?.message === 'string' && e.error.message.length > 0, `${what}: message`, e.error);
  }
}

const greedy = meta.greedy_ids;
const greedyText = await decode(greedy);
const promptTokens = meta.prompt_ids.length;
const chatGreedy = (max_tokens, extra = {}) => ({
  model: MODEL, messages: meta.conversation, temperature: 0, max_tokens, ...extra,
});

async function testModels() {
  const page = await client.models.list();
  eq(page.data.length, 1, 'models: one');
  eq(page.data[0].id, MODEL, 'models: id');
  eq(page.data[0].object, 'model', 'models: object');
  const one = await client.models.retrieve(MODEL);
  eq(one.id, MODEL, 'models.retrieve');
  await expectError(client.models.retrieve('nope'), 404, undefined, 'models.retrieve unknown');
}

async function testChat() {
  const r = await client.chat.completions.create(chatGreedy(16));
  eq(r.object, 'chat.completion', 'chat: object');
  check(r.id.startsWith('chatcmpl-'), 'chat: id', r.id);
  eq(r.model, MODEL, 'chat: model');
  eq(r.choices.length, 1, 'chat: one choice');
  eq(r.choices[0].message.role, 'assistant', 'chat: role');
  eq(r.choices[0].message.content, greedyText, 'chat: greedy text = transformers');
  eq(r.choices[0].finish_reason, 'length', 'chat: finish_reason');
  eq(r.usage.prompt_tokens, promptTokens, 'chat: usage.prompt_tokens = reference prompt length');
  eq(r.usage.completion_tokens, 16, 'chat: usage.completion_tokens');
  eq(r.usage.total_tokens, promptTokens + 16, 'chat: usage.total_tokens');

  // content parts are joined; the same prompt gives the same answer
  const parts = meta.conversation.map((m) => ({ role: m.role, content: [{ type: 'text', text: m.content }] }));
  const p = await client.chat.completions.create({ ...chatGreedy(16), messages: parts });
  eq(p.choices[0].message.content, greedyText, 'chat: content parts');

  // streaming, with usage
  const stream = await client.chat.completions.create(chatGreedy(16, { stream: true, stream_options: { include_usage: true } }));
  let text = '', roles = 0, finish = null, usage = null, n = 0;
  for await (const chunk of stream) {
    n++;
    eq(chunk.object, 'chat.completion.chunk', 'chat stream: object');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) roles++;
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  check(n >= 4, 'chat stream: chunks', n);
  eq(roles, 1, 'chat stream: one role delta');
  eq(text, greedyText, 'chat stream: text');
  eq(finish, 'length', 'chat stream: finish_reason');
  eq(usage?.prompt_tokens, promptTokens, 'chat stream: usage');

  // logprobs: one entry per token; greedy takes the most likely token, its first alternative
  const lp = await client.chat.completions.create(chatGreedy(16, { logprobs: true, top_logprobs: 2 }));
  const entries = lp.choices[0].logprobs?.content ?? [];
  eq(entries.length, 16, 'logprobs: one entry per token');
  check(entries.every((e) => e.top_logprobs.length === 2 && e.top_logprobs[0].token === e.token &&
                      Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-9 && e.logprob <= 0), 'logprobs: greedy = top alternative', entries[0]);

  // the SDK's own stream accumulator
  const runner = client.chat.completions.stream(chatGreedy(16));
  const final = await runner.finalChatCompletion();
  eq(final.choices[0].message.content, greedyText, 'chat .stream() helper: finalChatCompletion');
}

async function testCompletions() {
  const r = await client.completions.create({ model: MODEL, prompt: meta.prompt_ids, temperature: 0, max_tokens: 16 });
  eq(r.object, 'text_completion', 'completions: object');
  eq(r.choices[0].text, greedyText, 'completions: token-id prompt, greedy text');
  eq(r.usage.prompt_tokens, promptTokens, 'completions: usage.prompt_tokens');
  // the rendered prompt as text already starts with BOS: no second one
  const t = await client.completions.create({ model: MODEL, prompt: meta.prompt, temperature: 0, max_tokens: 16 });
  eq(t.usage.prompt_tokens, promptTokens, 'completions: text prompt with BOS gets no second BOS');
  eq(t.choices[0].text, greedyText, 'completions: text prompt, greedy text');
  const stream = await client.completions.create({ model: MODEL, prompt: meta.prompt_ids, temperature: 0, max_tokens: 16, stream: true });
  let text = '', finish = null;
  for await (const chunk of stream) {
    eq(chunk.object, 'text_completion', 'completions stream: object');
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  eq(text, greedyText, 'completions stream: text');
  eq(finish, 'length', 'completions stream: finish_reason');
  // two prompts: one choice each
  const two = await client.completions.create({ model: MODEL, prompt: [meta.prompt_ids, meta.prompt_ids.slice(0, 20)], temperature: 0, max_tokens: 4 });
  eq(two.choices.length, 2, 'completions: two prompts, two choices');
  eq(two.choices[0].text, await decode(greedy.slice(0, 4)), 'completions: first prompt of two');
  eq(two.usage.prompt_tokens, promptTokens + 20, 'completions: two prompts usage');
}

async function testStopAndSeed() {
  // a stop string from the middle of the greedy text
  const chars = [...greedyText];
  const stop = chars[Math.floor(chars.length / 2)];
  const want = greedyText.slice(0, greedyText.indexOf(stop));
  const r = await client.chat.completions.create(chatGreedy(16, { stop: ['never-appears-xyz', stop] }));
  eq(r.choices[0].message.content, want, 'stop: text before the stop string');
  eq(r.choices[0].finish_reason, 'stop', 'stop: finish_reason');

  const sampled = (seed, n = 1) => client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Tell me a story' }], temperature: 1, seed, max_tokens: 8, n, ignore_eos: true,
  });
  const a = await sampled(1234), b = await sampled(1234), c = await sampled(99);
  eq(a.choices[0].message.content, b.choices[0].message.content, 'seed: same seed, same text');
  check(a.choices[0].message.content !== c.choices[0].message.content, 'seed: another seed, another text');
  const two = await sampled(1234, 2);
  eq(two.choices.length, 2, 'n=2: two choices');
  eq(two.choices[1].index, 1, 'n=2: index');
  eq(two.choices[0].message.content, a.choices[0].message.content, 'n=2: choice 0 = the seeded single answer');
  eq(two.usage.completion_tokens, 16, 'n=2: usage counts both');
}

async function testConcurrent() {
  // 32 streaming clients at once, each with its own length: each gets exactly its own answer
  const jobs = [];
  for (let i = 0; i < 32; i++) {
    const k = 1 + (i % 16);
    jobs.push((async () => {
      const s = await client.chat.completions.create(chatGreedy(k, { stream: true }));
      let text = '';
      for await (const chunk of s) for (const c of chunk.choices) text += c.delta.content ?? '';
      return [text, await decode(greedy.slice(0, k))];
    })());
  }
  const results = await Promise.all(jobs);
  let ok = 0;
  for (const [got, want] of results) ok += got === want;
  eq(ok, 32, 'concurrency: 32 streaming clients all get their exact answers');
}

async function testErrors() {
  const before = await metrics();
  const bad = (body, status, param, what) => expectError(client.chat.completions.create(body), status, param, what);
  const msgs = [{ role: 'user', content: 'hi' }];
  await bad({ model: MODEL, messages: msgs, temperature: 'hot' }, 400, 'temperature', 'wrong type');
  await bad({ model: MODEL, messages: msgs, top_p: 2 }, 400, 'top_p', 'out of range');
  await bad({ model: MODEL, messages: [{ role: 'user' }] }, 400, 'messages[0].content', 'missing content');
  await bad({ model: MODEL, messages: msgs, n: 99 }, 400, 'n', 'n too large');
  await bad({ model: MODEL, messages: msgs, max_tokens: 100000 }, 400, 'messages', 'context length');
  await bad({ model: 'gpt-4o', messages: msgs }, 404, 'model', 'unknown model');
  await expectError(client.completions.create({ model: MODEL, prompt: [1, 2, 999999999] }), 400, 'prompt', 'token id out of vocabulary');
  // malformed JSON, straight through fetch
  const raw = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' }, body: '{"messages": [',
  });
  eq(raw.status, 400, 'malformed JSON: 400');
  const rawBody = await raw.json();
  check(/JSON/.test(rawBody.error?.message) && rawBody.error.param === null, 'malformed JSON: error shape', rawBody);
  // a body over --max-body (64 KiB)
  const big = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(70000) }] }),
  });
  eq(big.status, 413, 'oversized body: 413');
  eq((await big.json()).error?.code, 'request_too_large', 'oversized body: error code');
  // a wrong API key
  const wrong = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong-key', maxRetries: 0 });
  await expectError(wrong.models.list(), 401, null, 'bad API key');
  const after = await metrics();
  const d = (name) => after.get(name) - before.get(name);
  eq(d('mlcc_requests_total{status="400"}'), 7, 'metrics: 400s counted');
  eq(d('mlcc_requests_total{status="404"}'), 1, 'metrics: 404s counted');
  eq(d('mlcc_requests_total{status="413"}'), 1, 'metrics: 413 counted');
  eq(d('mlcc_requests_total{status="401"}'), 1, 'metrics: 401 counted');
  // still serving
  const r = await client.chat.completions.create(chatGreedy(2));
  eq(r.choices[0].finish_reason, 'length', 'still serving after errors');
}

async function waitFor(pred, what) {
  for (let i = 0; i < 400; i++) {
    if (await pred()) return true;
    await new Promise((res) => setTimeout(res, 50));
  }
  check(false, `${what}: timed out`);
  return false;
}

async function testMetricsAndDisconnect() {
  const before = await metrics();
  const r = await client.chat.completions.create(chatGreedy(16));
  const s = await client.completions.create({ model: MODEL, prompt: meta.prompt_ids, temperature: 0, max_tokens: 5, stream: true });
  for await (const _ of s) { /* drain */ }
  const mid = await metrics();
  const d = (name) => mid.get(name) - before.get(name);
  eq(d('mlcc_requests_total{status="200"}'), 2, 'metrics: 200s counted');
  eq(d('mlcc_prompt_tokens_total'), 2 * promptTokens, 'metrics: prompt tokens');
  eq(d('mlcc_generation_tokens_total'), r.usage.completion_tokens + 5, 'metrics: generated tokens');
  eq(d('mlcc_time_to_first_token_seconds_count'), 2, 'metrics: TTFT histogram count');
  check(/mlcc_inter_token_latency_seconds_bucket\{le="\+Inf"\} \d+/.test(mid.text), 'metrics: ITL histogram');

  // a streaming client that leaves after a few chunks: its request is cancelled, its pages freed
  await new Promise((res) => setTimeout(res, 200)); // the engine publishes page counts after each step
  const pagesBefore = (await metrics()).get('mlcc_kv_cache_pages_used');
  const long = { model: MODEL, messages: [{ role: 'user', content: 'go on' }], max_tokens: 220, ignore_eos: true };
  const ac = new AbortController();
  const stream = await client.chat.completions.create({ ...long, stream: true }, { signal: ac.signal });
  let chunks = 0;
  try {
    for await (const _ of stream) if (++chunks === 3) ac.abort();
  } catch (e) { /* the abort */ }
  await waitFor(async () => (await metrics()).get('mlcc_requests_total{status="499"}') === before.get('mlcc_requests_total{status="499"}') + 1,
    'stream disconnect counted as 499');
  await waitFor(async () => (await metrics()).get('mlcc_kv_cache_pages_used') <= pagesBefore, 'disconnect: its KV pages freed');
  const m = await metrics();
  eq(m.get('mlcc_requests_running'), 0, 'disconnect: nothing running');
  check(m.get('mlcc_generation_tokens_total') - mid.get('mlcc_generation_tokens_total') < 220, 'disconnect: generation stopped early');

  // a non-streaming client that leaves while its request waits behind another one
  // (four choices of 220 tokens fill the batch of 4, so the second one waits)
  const first = client.chat.completions.create({ ...long, n: 4 });
  await waitFor(async () => (await metrics()).get('mlcc_requests_running') === 1, 'first request running');
  const ac2 = new AbortController();
  const second = client.chat.completions.create(long, { signal: ac2.signal }).catch(() => 'aborted');
  await waitFor(async () => (await metrics()).get('mlcc_requests_waiting') === 1, 'second request waiting');
  ac2.abort();
  eq(await second, 'aborted', 'waiting client aborted');
  await waitFor(async () => (await metrics()).get('mlcc_requests_waiting') === 0, 'waiting request removed');
  const done = await first;
  eq(done.usage.completion_tokens, 880, 'the running request is unaffected');
  const end = await metrics();
  eq(end.get('mlcc_requests_total{status="499"}') - before.get('mlcc_requests_total{status="499"}'), 2, 'both disconnects are 499s');
  eq(end.get('mlcc_generation_tokens_total') - m.get('mlcc_generation_tokens_total'), 880, 'the waiting one never ran');
  eq(end.get('mlcc_engine_max_decode_batch'), 4, 'requests were decoded in batches of 4');
}

// ---- structured generation: replies validated by python3-jsonschema (validate.py) ----
const validator = `${process.env.MLCC_TESTDATA}/json-schema/validate.py`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlcc-structured-'));
function validates(schema, instance) {
  fs.writeFileSync(`${tmp}/schema.json`, JSON.stringify(schema));
  fs.writeFileSync(`${tmp}/instance.json`, JSON.stringify(instance));
  try {
    execFileSync('/usr/bin/python3', [validator, `${tmp}/schema.json`, `${tmp}/instance.json`], { stdio: 'pipe' });
    return true;
  } catch (e) {
    return String(e.stderr || e);
  }
}
const parseOr = (text) => { try { return JSON.parse(text); } catch { return undefined; } };
const sampled = (seed, extra) => ({
  model: MODEL, messages: [{ role: 'user', content: 'Answer in the requested format.' }], temperature: 1, seed, n: 3,
  max_tokens: 120, grammar_options: { max_string_chars: 16, max_number_digits: 6 }, ...extra,
});

async function testStructured() {
  if (!fs.existsSync(validator)) { check(false, `validator ${validator} missing`); return; }
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 10 },
      born: { type: 'string', format: 'date' },
      tags: { type: 'array', items: { enum: ['a', 'b', 'c'] }, maxItems: 3 },
      score: { type: ['number', 'null'], minimum: 0, maximum: 10 },
    },
    required: ['name', 'born', 'tags', 'score'],
    additionalProperties: false,
  };
  const texts = new Set();
  for (const seed of [1, 2]) {
    const r = await client.chat.completions.create(sampled(seed, {
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
    }));
    for (const c of r.choices) {
      eq(c.finish_reason, 'stop', 'json_schema: finish_reason');
      const v = parseOr(c.message.content);
      check(v !== undefined, 'json_schema: reply parses', c.message.content);
      if (v !== undefined) eq(validates(schema, v), true, `json_schema: ${c.message.content} validates`);
      texts.add(c.message.content);
    }
  }
  check(texts.size > 1, 'json_schema: seeds give different replies', [...texts]);
  const obj = await client.chat.completions.create(sampled(5, { n: 1, response_format: { type: 'json_object' } }));
  if (obj.choices[0].finish_reason === 'stop') {
    const v = parseOr(obj.choices[0].message.content);
    check(v !== null && typeof v === 'object' && !Array.isArray(v), 'json_object: an object', obj.choices[0].message.content);
  }

  const params = {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 8 }, days: { type: 'integer', minimum: 1, maximum: 7 } },
    required: ['city', 'days'],
  };
  const tools = [
    { type: 'function', function: { name: 'forecast', description: 'Weather forecast', parameters: params } },
    { type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} } } },
  ];
  const r = await client.chat.completions.create(sampled(9, {
    tools, tool_choice: { type: 'function', function: { name: 'forecast' } },
  }));
  for (const c of r.choices) {
    eq(c.finish_reason, 'tool_calls', 'tools: finish_reason');
    eq(c.message.content, null, 'tools: content null');
    const call = c.message.tool_calls?.[0];
    check(call && call.type === 'function' && call.id.startsWith('call_'), 'tools: call shape', c.message);
    eq(call?.function.name, 'forecast', 'tools: the named function');
    const args = parseOr(call?.function.arguments);
    check(args !== undefined, 'tools: arguments parse', call?.function.arguments);
    if (args !== undefined) eq(validates(params, args), true, `tools: ${call.function.arguments} validates`);
  }
  // streamed: the call arrives as tool_calls deltas, assembled as an application would
  const stream = await client.chat.completions.create(sampled(10, { n: 1, tools, tool_choice: 'required', stream: true }));
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    const ch = chunk.choices[0];
    if (!ch) continue;
    for (const d of ch.delta?.tool_calls ?? []) {
      calls[d.index] ??= { id: d.id, name: '', arguments: '' };
      calls[d.index].name += d.function?.name ?? '';
      calls[d.index].arguments += d.function?.arguments ?? '';
    }
    finish = ch.finish_reason ?? finish;
  }
  eq(finish, 'tool_calls', 'streamed tools: finish_reason');
  eq(calls.length, 1, 'streamed tools: one call');
  check(['forecast', 'noop'].includes(calls[0]?.name), 'streamed tools: a listed function', calls);
  const sargs = parseOr(calls[0]?.arguments);
  if (calls[0]?.name === 'forecast') eq(validates(params, sargs), true, 'streamed tools: arguments validate');
  else eq(JSON.stringify(sargs), '{}', 'streamed tools: noop takes no arguments');

  await expectError(client.chat.completions.create(sampled(1, {
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array', contains: { type: 'string' } } } },
  })), 400, 'response_format.json_schema.schema', 'unsupported schema keyword');
  await expectError(client.chat.completions.create(sampled(1, { tools, tool_choice: { type: 'function', function: { name: 'nope' } } })),
    400, 'tool_choice.function.name', 'unknown tool');
  fs.rmSync(tmp, { recursive: true, force: true });
}

for (const t of [testModels, testChat, testCompletions, testStopAndSeed, testConcurrent, testErrors, testStructured, testMetricsAndDisconnect]) {
  try {
    await t();
  } catch (e) {
    check(false, `${t.name} threw`, String(e && e.stack || e));
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
