#!/usr/bin/env python3
"""gguf_spm_model.py TOKENIZER_JSON OUT.gguf - a tiny random-weight llama GGUF file whose
vocabulary is SentencePiece-style (tokenizer.ggml.model "llama": tokens, scores, token types),
made from a Llama-2 tokenizer.json, for test_convert_gguf_cli.sh (no fixture GGUF has such a
vocabulary). Scores: a token made by merge number r scores -r (so llama.cpp's score-ranked BPE
merges in the tokenizer.json's order); other tokens score -1e6. Types: <unk> unknown, <s> and
</s> control, <0xXX> byte, others normal. Written with the GGUF v3 layout llama.cpp reads."""
import json
import random
import struct
import sys

STRING, UINT32, INT32, FLOAT32, BOOL, ARRAY = 8, 4, 5, 6, 7, 9


def gstr(s):
    b = s.encode('utf-8')
    return struct.pack('<Q', len(b)) + b


def kv(key, vtype, value):
    out = gstr(key) + struct.pack('<I', vtype)
    if vtype == STRING:
        return out + gstr(value)
    if vtype == UINT32:
        return out + struct.pack('<I', value)
    if vtype == FLOAT32:
        return out + struct.pack('<f', value)
    if vtype == BOOL:
        return out + struct.pack('<B', 1 if value else 0)
    raise ValueError(vtype)


def kv_array(key, etype, values):
    out = gstr(key) + struct.pack('<IIQ', ARRAY, etype, len(values))
    if etype == STRING:
        return out + b''.join(gstr(v) for v in values)
    fmt = {INT32: '<i', FLOAT32: '<f'}[etype]
    return out + b''.join(struct.pack(fmt, v) for v in values)


def main():
    tok = json.load(open(sys.argv[1], encoding='utf-8'))
    vocab = tok['model']['vocab']
    n = len(vocab)
    tokens = [None] * n
    for t, i in vocab.items():
        tokens[i] = t
    scores = [-1e6] * n
    for r, m in enumerate(tok['model']['merges']):
        a, b = m.split(' ') if isinstance(m, str) else m
        i = vocab.get(a + b)
        if i is not None and scores[i] == -1e6:
            scores[i] = -float(r)
    types = []
    for i, t in enumerate(tokens):
        if t == '<unk>':
            types.append(2)
        elif t in ('<s>', '</s>'):
            types.append(3)
        elif t.startswith('<0x') and t.endswith('>') and len(t) == 6:
            types.append(6)
        else:
            types.append(1)
    hidden, ff, heads, kv_heads, layers = 16, 32, 2, 1, 1
    hd = hidden // heads
    shapes = [('token_embd.weight', [hidden, n]), ('output_norm.weight', [hidden])]
    for l in range(layers):
        p = 'blk.%d.' % l
        shapes += [(p + 'attn_norm.weight', [hidden]), (p + 'attn_q.weight', [hidden, hidden]),
                   (p + 'attn_k.weight', [hidden, kv_heads * hd]), (p + 'attn_v.weight', [hidden, kv_heads * hd]),
                   (p + 'attn_output.weight', [hidden, hidden]), (p + 'ffn_norm.weight', [hidden]),
                   (p + 'ffn_gate.weight', [hidden, ff]), (p + 'ffn_up.weight', [hidden, ff]),
                   (p + 'ffn_down.weight', [ff, hidden])]
    kvs = [kv('general.architecture', STRING, 'llama'), kv('general.alignment', UINT32, 32),
           kv('llama.embedding_length', UINT32, hidden), kv('llama.block_count', UINT32, layers),
           kv('llama.attention.head_count', UINT32, heads), kv('llama.attention.head_count_kv', UINT32, kv_heads),
           kv('llama.feed_forward_length', UINT32, ff), kv('llama.context_length', UINT32, 256),
           kv('llama.rope.freq_base', FLOAT32, 10000.0), kv('llama.attention.layer_norm_rms_epsilon', FLOAT32, 1e-5),
           kv('tokenizer.ggml.model', STRING, 'llama'), kv_array('tokenizer.ggml.tokens', STRING, tokens),
           kv_array('tokenizer.ggml.scores', FLOAT32, scores), kv_array('tokenizer.ggml.token_type', INT32, types),
           kv('tokenizer.ggml.bos_token_id', UINT32, 1), kv('tokenizer.ggml.eos_token_id', UINT32, 2),
           kv('tokenizer.ggml.unknown_token_id', UINT32, 0), kv('tokenizer.ggml.add_bos_token', BOOL, True)]
    infos, datas, offset = [], [], 0
    rng = random.Random(5)
    for name, dims in shapes:
        count = 1
        for d in dims:
            count *= d
        norm = len(dims) == 1
        data = struct.pack('<%df' % count, *[(1.0 if norm else 0.0) + rng.uniform(-0.3, 0.3) for _ in range(count)])
        infos.append(gstr(name) + struct.pack('<I', len(dims)) + b''.join(struct.pack('<Q', d) for d in dims) +
                     struct.pack('<IQ', 0, offset))
        pad = (-len(data)) % 32
        datas.append(data + b'\0' * pad)
        offset += len(data) + pad
    head = b'GGUF' + struct.pack('<IQQ', 3, len(shapes), len(kvs)) + b''.join(kvs) + b''.join(infos)
    head += b'\0' * ((-len(head)) % 32)
    with open(sys.argv[2], 'wb') as f:
        f.write(head + b''.join(datas))


if __name__ == '__main__':
    main()
