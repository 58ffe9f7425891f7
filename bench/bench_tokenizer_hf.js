// bench_tokenizer_hf.js TOKENIZER_JSON TEXT [REPEAT] - npm tokenizers (HF) encode throughput on the
// same text in one call, best of REPEAT, single input (no batch parallelism).
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');
(async () => {
  const [file, textFile, rep] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(file);
  const text = fs.readFileSync(textFile, 'utf8');
  const bytes = Buffer.byteLength(text);
  let best = 1e30, n = 0;
  for (let r = 0; r < parseInt(rep || '3', 10); r++) {
    const t0 = process.hrtime.bigint();
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const t = Number(process.hrtime.bigint() - t0) / 1e9;
    n = enc.getIds().length;
    if (t < best) best = t;
  }
  console.log(JSON.stringify({ bytes, tokens: n, seconds: best, mb_per_s: +(bytes / best / 1e6).toFixed(2) }));
})();
