// probe_predicates.js - asks npm tokenizers, code point by code point, how its components
// classify characters (its Rust crates carry several Unicode versions), and writes
// predicates.json: sorted [lo, hi] ranges per predicate, plus the lowercase mappings.
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

function bytesChar() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
  const m = {};
  bs.forEach((b, i) => (m[b] = String.fromCodePoint(cs[i])));
  return m;
}
const bc = bytesChar();
const byteVocab = {};
for (let b = 0; b < 256; b++) byteVocab[bc[b]] = b;

// A tokenizer whose decode(encode(s)) returns what normalizer + pre-tokenizer leave of s.
function echo(normalizer, pretok) {
  const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tj = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer,
    pre_tokenizer: pretok ? { type: 'Sequence', pretokenizers: [pretok, bl] } : bl, post_processor: null,
    decoder: bl, model: { type: 'BPE', vocab: byteVocab, merges: [], dropout: null, unk_token: null,
      continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false } };
  const f = '/tmp/mlcc_probe_tok.json';
  fs.writeFileSync(f, JSON.stringify(tj));
  return Tokenizer.fromFile(f);
}

const all = [];
for (let c = 0; c < 0x110000; c++) if (c < 0xd800 || c > 0xdfff) all.push(c);

async function run(tok, make) {
  const out = [];
  const B = 100000;
  for (let i = 0; i < all.length; i += B) {
    const strs = all.slice(i, i + B).map((c) => make(String.fromCodePoint(c)));
    const encs = await tok.encodeBatch(strs, { addSpecialTokens: false });
    const dec = await tok.decodeBatch(encs.map((e) => e.getIds()), false);
    out.push(...dec);
  }
  return out;
}

function ranges(pred) {
  const r = [];
  for (let k = 0; k < all.length; k++) {
    if (!pred(k)) continue;
    const c = all[k], l = r[r.length - 1];
    if (l && l[1] === c - 1) l[1] = c; else r.push([c, c]);
  }
  return r;
}

async function main() {
  const res = {};
  const removed = async (normalizer, pretok, wrap) => {
    const out = await run(echo(normalizer, pretok), wrap);
    return out;
  };
  // BERT clean_text: removed = control (is_other), ' ' = whitespace
  let o = await removed({ type: 'BertNormalizer', clean_text: true, handle_chinese_chars: false, strip_accents: false, lowercase: false }, null, (s) => 'a' + s);
  res.bert_other = ranges((k) => o[k] === 'a' && all[k] !== 0 && all[k] !== 0xfffd);
  // BERT strip accents (NFD, then drop is_mark_nonspacing): only characters NFD leaves alone matter
  const nfd = await removed({ type: 'NFD' }, null, (s) => s);
  o = await removed({ type: 'BertNormalizer', clean_text: false, handle_chinese_chars: false, strip_accents: true, lowercase: false }, null, (s) => 'a' + s);
  res.bert_mn = ranges((k) => o[k] === 'a' && nfd[k] === String.fromCodePoint(all[k]));
  // StripAccents: is_combining_mark
  o = await removed({ type: 'StripAccents' }, null, (s) => 'a' + s);
  res.combining_mark = ranges((k) => o[k] === 'a');
  // Punctuation pre-tokenizer: is_punc
  o = await removed(null, { type: 'Punctuation', behavior: 'Removed' }, (s) => 'a' + s + 'a');
  res.punctuation = ranges((k) => o[k] === 'aa');
  // Digits: char::is_numeric (a digit becomes its own piece; the Split drops each piece's first char)
  o = await removed(null, { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true },
    { type: 'Split', pattern: { Regex: '^.' }, behavior: 'Removed', invert: false }] }, (s) => 'x' + s);
  res.numeric = ranges((k) => o[k] === '');
  // Whitespace pre-tokenizer (regex crate \w+|[^\w\s]+): w = joins 'a', s = dropped
  o = await removed(null, { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' },
    { type: 'Split', pattern: { Regex: '^.' }, behavior: 'Removed', invert: false }] }, (s) => 'x' + s);
  res.regex_word = ranges((k) => o[k] === String.fromCodePoint(all[k]));
  // Oniguruma classes used in Split patterns
  for (const [name, re] of [['onig_w', '\\w'], ['onig_s', '\\s'], ['onig_d', '\\d']]) {
    o = await removed(null, { type: 'Split', pattern: { Regex: re }, behavior: 'Removed', invert: false }, (s) => 'x' + s + 'x');
    res[name] = ranges((k) => o[k] === (name === 'onig_w' ? '' : 'xx') || (name === 'onig_w' && o[k] === ''));
  }
  // Lowercase: every character that changes
  o = await removed({ type: 'Lowercase' }, null, (s) => s);
  res.lowercase = [];
  for (let k = 0; k < all.length; k++) if (o[k] !== String.fromCodePoint(all[k])) res.lowercase.push([all[k], Array.from(o[k]).map((c) => c.codePointAt(0))]);
  fs.writeFileSync('predicates.json', JSON.stringify(res));
  for (const [k, v] of Object.entries(res)) console.log(k, v.length);
}
main();
