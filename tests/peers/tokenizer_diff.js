// tokenizer_diff.js - differential test of `mlcc tokenize` against Hugging Face tokenizers
// (npm tokenizers, the official Node binding of the Rust library).
//
// usage: node tokenizer_diff.js MLCC COUNT SEED WORKDIR TOKENIZER...
// where TOKENIZER is a tokenizer.json, or MLCC_PATH=TOKENIZER_JSON to have mlcc load MLCC_PATH (a
// GGUF file, say) and compare it with the reference tokenizer.json.
// For each tokenizer: COUNT seeded random strings (mixed scripts, emoji sequences, whitespace
// runs, digits, punctuation, fragments of the tokenizer's own added tokens, random code points)
// are written as JSON Lines; mlcc encodes the whole file once per mode (with and without special
// tokens) and decodes the reference ids once per mode (skipping special tokens or not); every
// result is compared with the reference. Exit 1 on any mismatch.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { Tokenizer } = require('tokenizers');

function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeGenerator(rand, specials) {
  const int = (n) => Math.floor(rand() * n);
  const pick = (a) => a[int(a.length)];
  const cp = (lo, hi) => String.fromCodePoint(lo + int(hi - lo + 1));
  const run = (f, max) => { let s = ''; const n = 1 + int(max); for (let i = 0; i < n; i++) s += f(); return s; };
  const words = ['the', 'The', 'HELLO', 'world', 'tokenizer', 'don', 'ca', 'I', 'a', 'x', 'naïve',
    'café', 'Straße', 'İstanbul', 'ǅemal', 'ﬁne', 'ｆｕｌｌ', 'ΣΊΣΥΦΟΣ', 'résumé', 'Ünïcödé',
    'function', 'return', 'self', '__init__', 'http', 'www', 'com', 'json', 'NaN', 'iPhone'];
  const scripts = [[0x41, 0x5a], [0x61, 0x7a], [0xc0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff],
    [0x590, 0x5ff], [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x3040, 0x30ff],
    [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x1100, 0x11ff], [0xff00, 0xffef], [0x10a0, 0x10ff]];
  const ws = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\r', '\u00a0', '\u3000', '\u2028',
    '\u000b', '\f', '\u2009', '\u200b', ' \n ', '\t\t', '        '];
  const punct = ['.', ',', '!', '?', ';', ':', "'", '"', '(', ')', '[', ']', '{', '}', '<', '>',
    '/', '\\', '-', '_', '=', '+', '*', '&', '^', '%', '$', '#', '@', '~', '`', '|', '…', '—',
    '«', '»', '¿', '¡', '€', '£', '¥', '©', '®', '™', '•', '·', '、', '。', '「', '」', '！', '？'];
  const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'RE", "n't", "'LL"];
  const emoji = () => {
    const k = int(6);
    const base = cp(0x1f300, 0x1faff);
    if (k === 0) return base + cp(0x1f3fb, 0x1f3ff);
    if (k === 1) return base + '\u200d' + cp(0x1f300, 0x1f64f) + (rand() < 0.5 ? '\ufe0f' : '');
    if (k === 2) return cp(0x1f1e6, 0x1f1ff) + cp(0x1f1e6, 0x1f1ff);
    if (k === 3) return cp(0x30, 0x39) + '\ufe0f\u20e3';
    if (k === 4) return cp(0x2600, 0x27bf) + (rand() < 0.5 ? '\ufe0f' : '');
    return base;
  };
  const anyCodePoint = () => {
    for (;;) {
      const r = rand();
      const c = r < 0.5 ? int(0x800) : r < 0.85 ? int(0x10000) : int(0x110000);
      if (c >= 0xd800 && c <= 0xdfff) continue;
      return String.fromCodePoint(c);
    }
  };
  const fragment = () => {
    if (!specials.length) return '<|';
    const s = pick(specials);
    const chars = Array.from(s);
    const k = int(4);
    if (k === 0) return s;
    if (k === 1) return ' ' + s + pick(ws);
    const a = int(chars.length), b = a + int(chars.length - a + 1);
    return chars.slice(k === 2 ? 0 : a, b).join('');
  };
  const segs = [
    () => pick(words), () => pick(words) + pick(contractions), () => ' ' + pick(words),
    () => { const [lo, hi] = pick(scripts); return run(() => cp(lo, hi), 8); },
    () => run(() => cp(0x300, 0x36f), 3), emoji, () => pick(ws), () => run(() => pick(ws), 4),
    () => run(() => cp(0x30, 0x39), 12), () => run(() => cp(0x660, 0x669), 4),
    () => run(() => pick(punct), 4), fragment, fragment, anyCodePoint,
    () => run(anyCodePoint, 5), () => pick(words).toUpperCase(),
  ];
  return () => {
    const n = int(13);
    let s = '';
    for (let i = 0; i < n; i++) s += pick(segs)();
    return s;
  };
}

function readJsonl(text) {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => JSON.parse(l));
}

async function main() {
  const [mlcc, countArg, seedArg, workdir, ...files] = process.argv.slice(2);
  const count = parseInt(countArg, 10), seed = parseInt(seedArg, 10);
  fs.mkdirSync(workdir, { recursive: true });
  let failures = 0;
  for (let t = 0; t < files.length; t++) {
    const [mlccPath, file] = files[t].includes('=') ? files[t].split('=') : [files[t], files[t]];
    const name = mlccPath === file ? path.basename(path.dirname(file)) : path.basename(mlccPath);
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    const specials = (json.added_tokens || []).map((a) => a.content).filter((c) => c.length < 40);
    const gen = makeGenerator(mulberry32(seed * 1000 + t), specials);
    const strings = [];
    for (let i = 0; i < count; i++) strings.push(gen());
    const input = path.join(workdir, name + '.jsonl');
    fs.writeFileSync(input, strings.map((s) => JSON.stringify(s)).join('\n') + '\n');
    const tok = Tokenizer.fromFile(file);
    const t0 = Date.now();
    const refs = {};
    for (const special of [false, true]) {
      const encs = await tok.encodeBatch(strings, { addSpecialTokens: special });
      refs[special] = encs.map((e) => e.getIds());
    }
    const tRef = Date.now() - t0;
    const t1 = Date.now();
    const report = [];
    for (const special of [false, true]) {
      const args = ['tokenize', '--tokenizer', mlccPath];
      if (special) args.push('--add-special-tokens');
      const out = readJsonl(execFileSync(mlcc, args, { input: fs.readFileSync(input), maxBuffer: 1 << 30 }).toString());
      let bad = 0;
      for (let i = 0; i < count; i++) {
        const a = out[i] || [], b = refs[special][i];
        if (a.length !== b.length || a.some((x, k) => x !== b[k])) {
          if (bad++ < 3) console.error(`${name} special=${special} #${i} ${JSON.stringify(strings[i])}\n  mlcc ${JSON.stringify(a)}\n  hf   ${JSON.stringify(b)}`);
        }
      }
      report.push(`encode(special=${special}) ${count - bad}/${count}`);
      failures += bad;
    }
    for (const skip of [false, true]) {
      const ids = refs[skip];
      const want = await tok.decodeBatch(ids, skip);
      const args = ['tokenize', '--tokenizer', mlccPath, '--decode'];
      if (skip) args.push('--skip-special-tokens');
      const dinput = ids.map((x) => JSON.stringify(x)).join('\n') + '\n';
      const out = readJsonl(execFileSync(mlcc, args, { input: dinput, maxBuffer: 1 << 30 }).toString());
      let bad = 0;
      for (let i = 0; i < count; i++) {
        if (out[i] !== want[i]) {
          if (bad++ < 3) console.error(`${name} decode skip=${skip} #${i}\n  mlcc ${JSON.stringify(out[i])}\n  hf   ${JSON.stringify(want[i])}`);
        }
      }
      report.push(`decode(skip=${skip}) ${count - bad}/${count}`);
      failures += bad;
    }
    console.log(`${name}: ${report.join(', ')} (reference ${tRef} ms, mlcc ${Date.now() - t1} ms)`);
  }
  if (failures) { console.log(`FAILED: ${failures} mismatches`); process.exit(1); }
  console.log('all equal');
}

main().catch((e) => { console.error(e); process.exit(1); });
