// synthetic_tokenizers.js - writes tokenizer.json files that exercise the components the six
// real fixtures do not (Unigram, WordPiece, BERT normalizer and pre-tokenizer, Metaspace with
// prepend_scheme, ByteLevel with its regex and add_prefix_space, Digits, Punctuation,
// Whitespace, WhitespaceSplit, Strip, StripAccents, Lowercase, NFD/NFKC, Nmt, Precompiled,
// Replace with a regex,
// RobertaProcessing, added tokens with lstrip/rstrip/single_word/normalized, truncation and
// padding).
// Vocabularies come from seeded text, so the files are the same on every run.
// usage: node synthetic_tokenizers.js LLAMA3_TOKENIZER_JSON OUTDIR  (prints the written paths)
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = mulberry32(4242);
const int = (n) => Math.floor(rand() * n);
const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'token', 'izer', 'ing',
  'tion', 'un', 'able', 'café', 'naïve', 'über', 'straße', 'привет', 'мир', 'γειά', 'σου', '東京', '日本語',
  '한국어', 'مرحبا', 'שלום', 'नमस्ते', '123', '4567', 'hello', 'world', 'data', 'model', 'ﬁ', 'Ⅻ', '①'];
function corpus(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    const k = 1 + int(8);
    for (let j = 0; j < k; j++) s += (j ? ' ' : '') + words[int(words.length)];
    out.push(s);
  }
  return out;
}

function substringCounts(texts, maxLen, transform) {
  const counts = new Map();
  for (const t of texts) {
    const chars = Array.from(transform(t));
    for (let i = 0; i < chars.length; i++)
      for (let l = 1; l <= maxLen && i + l <= chars.length; l++) {
        const s = chars.slice(i, i + l).join('');
        counts.set(s, (counts.get(s) || 0) + 1);
      }
  }
  return counts;
}

const added = (id, content, o = {}) => Object.assign({ id, content, single_word: false, lstrip: false,
  rstrip: false, normalized: false, special: true }, o);

function unigram(texts, opts) {
  const counts = substringCounts(texts, 6, (t) => '▁' + t.replace(/ /g, '▁'));
  const entries = [...counts.entries()].filter(([s, c]) => c > 1 || Array.from(s).length === 1);
  entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const total = entries.reduce((a, e) => a + e[1], 0);
  const vocab = [['<unk>', 0], ['<s>', 0], ['</s>', 0], ['<mask>', 0]];
  for (const [s, c] of entries.slice(0, 3000)) vocab.push([s, Math.log(c / total) - Array.from(s).length * 0.1]);
  if (opts.byteFallback) for (let b = 0; b < 256; b++) vocab.push(['<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>', -20]);
  return { type: 'Unigram', unk_id: 0, vocab, byte_fallback: !!opts.byteFallback };
}

function wordpiece(texts) {
  const lower = (t) => t.normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase();
  const counts = new Map();
  for (const t of texts) for (const w of lower(t).split(' ')) {
    const chars = Array.from(w);
    for (let i = 0; i < chars.length; i++)
      for (let l = 1; l <= 5 && i + l <= chars.length; l++) {
        const s = (i ? '##' : '') + chars.slice(i, i + l).join('');
        counts.set(s, (counts.get(s) || 0) + 1);
      }
  }
  const vocab = { '[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, '[MASK]': 4 };
  let id = 5;
  for (const p of '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~0123456789') vocab[p] = id++;
  const entries = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 2500);
  for (const [s] of entries) if (!(s in vocab)) vocab[s] = id++;
  return { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 20, vocab };
}

function main() {
  const [llamaPath, outdir] = process.argv.slice(2);
  fs.mkdirSync(outdir, { recursive: true });
  const texts = corpus(4000);
  const llama = JSON.parse(fs.readFileSync(llamaPath, 'utf8'));
  const files = {};
  files['unigram_metaspace'] = {
    version: '1.0',
    truncation: { direction: 'Left', max_length: 16, strategy: 'LongestFirst', stride: 0 },
    padding: { strategy: { Fixed: 20 }, direction: 'Left', pad_to_multiple_of: 8, pad_id: 3, pad_type_id: 0, pad_token: '<mask>' },
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>'), added(3, '<mask>', { lstrip: true }),
      added(3004, 'hello', { special: false, normalized: true, single_word: true })],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
    post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [], special_tokens: { '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
    model: unigram(texts, {}),
  };
  // SentencePiece's nmt_nfkc map (from Hugging Face tokenizers' own tests), as T5 / XLM-R ship it
  const charsmap = zlib.gunzipSync(fs.readFileSync(path.join(__dirname, 'data', 'nmt_nfkc.charsmap.gz')));
  files['unigram_precompiled'] = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Nmt' },
      { type: 'Precompiled', precompiled_charsmap: charsmap.toString('base64') },
      { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [], special_tokens: { '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: unigram(texts, {}),
  };
  files['unigram_bytefallback'] = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Strip', strip_left: true, strip_right: false }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: false },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: unigram(texts, { byteFallback: true }),
  };
  files['wordpiece_bert'] = {
    version: '1.0',
    truncation: { direction: 'Right', max_length: 24, strategy: 'LongestFirst', stride: 0 },
    padding: { strategy: { Fixed: 28 }, direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]' },
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((c, i) => added(i, c)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: wordpiece(texts),
  };
  const bpe = Object.assign({}, llama.model);
  files['bytelevel_roberta'] = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(128000, '<s>'), added(128001, '</s>'), added(128002, '<mask>', { lstrip: true }),
      added(128003, ' rstrip', { rstrip: true, special: false }), added(128004, 'Ġhi', { normalized: true, special: false })],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 128001], cls: ['<s>', 128000], trim_offsets: true, add_prefix_space: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: Object.assign({}, bpe, { ignore_merges: false }),
  };
  files['splitters'] = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(128000, '<|begin_of_text|>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Strip', strip_left: true, strip_right: true }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'WhitespaceSplit' }, { type: 'Digits', individual_digits: true },
      { type: 'Punctuation', behavior: 'Contiguous' },
      { type: 'Split', pattern: { String: 'a' }, behavior: 'MergedWithNext', invert: false },
      { type: 'Split', pattern: { Regex: '[eo]' }, behavior: 'MergedWithPrevious', invert: false },
      { type: 'Split', pattern: { Regex: '\\p{Lu}' }, behavior: 'Removed', invert: true },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }] },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: bpe,
  };
  files['whitespace_wordpiece'] = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((c, i) => added(i, c)),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'Lowercase' }, { type: 'StripAccents' }] },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: false },
    model: wordpiece(texts),
  };
  const wl = { '[UNK]': 0, '[CLS]': 1 };
  let wid = 2;
  for (const t of texts) for (const w of t.toLowerCase().split(' ')) if (!(w in wl)) wl[w] = wid++;
  files['wordlevel_nodecoder'] = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(0, '[UNK]'), added(1, '[CLS]')],
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'CharDelimiterSplit', delimiter: '-' },
      { type: 'Punctuation', behavior: 'Isolated' }] },
    post_processor: null, decoder: null,
    model: { type: 'WordLevel', vocab: wl, unk_token: '[UNK]' },
  };
  const ctcVocab = { '<pad>': 0, '<unk>': 1, '|': 2 };
  let cid = 3;
  for (const t of texts) for (const c of Array.from(t.toLowerCase().replace(/ /g, '|'))) if (!(c in ctcVocab)) ctcVocab[c] = cid++;
  files['ctc_chars'] = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(0, '<pad>'), added(1, '<unk>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Lowercase' }, { type: 'Replace', pattern: { String: ' ' }, content: '|' }] },
    pre_tokenizer: { type: 'Split', pattern: { Regex: '.' }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: { type: 'CTC', pad_token: '<pad>', word_delimiter_token: '|', cleanup: true },
    model: { type: 'WordLevel', vocab: ctcVocab, unk_token: '<unk>' },
  };
  for (const [name, json] of Object.entries(files)) {
    const dir = path.join(outdir, name);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'tokenizer.json');
    fs.writeFileSync(file, JSON.stringify(json));
    console.log(file);
  }
}
main();
