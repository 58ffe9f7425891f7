// bench_tokenizer_hf.js TOKENIZER_JSON TEXT [REPEAT] - npm tokenizers (HF) encode throughput on the
// same text, one encode per line (encodeBatch with TOKENIZERS_PARALLELISM=false, so one thread),
// best of REPEAT; reports wall time and the process's CPU time.
'use strict';
process.env.TOKENIZERS_PARALLELISM = 'false';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');
(async () => {
  const [file, textFile, rep] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(file);
  const text = fs.readFileSync(textFile, 'utf8');
  const lines = text.split(/(?<=\n)/);
  const bytes = Buffer.byteLength(text);
  let best = 1e30, bestCpu = 1e30, n = 0;
  for (let r = 0; r < parseInt(rep || '3', 10); r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const encs = await tok.encodeBatch(lines, { addSpecialTokens: false });
    const t = Number(process.hrtime.bigint() - t0) / 1e9;
    const cu = process.cpuUsage(c0);
    n = encs.reduce((a, e) => a + e.getIds().length, 0);
    best = Math.min(best, t);
    bestCpu = Math.min(bestCpu, (cu.user + cu.system) / 1e6);
  }
  console.log(JSON.stringify({ bytes, tokens: n, seconds: best, mb_per_s: +(bytes / best / 1e6).toFixed(2),
    cpu_seconds: bestCpu, cpu_mb_per_s: +(bytes / bestCpu / 1e6).toFixed(2) }));
})();
