"""bench_transformers.py - Hugging Face transformers on the same random-weight config, for the
CUDA comparison in BENCHMARKS.md (issue 17): float16 weights initialised on the GPU from
config.json (no download), eager PyTorch (no torch.compile); the attention as transformers
picks it, or each of --attn eager,sdpa in turn (the model is built again for each).

usage: python3 bench/bench_transformers.py CONFIG.json [--prompts 512,2048] [--batches 1,16,64]
          [--decode-prompt 512] [--steps 32] [--dtype float16|bfloat16] [--attn eager,sdpa]
Prints prefill tok/s per prompt length (one sequence, best of 3) and greedy decode tok/s per
batch size (steps after a prefill of --decode-prompt tokens, KV cache kept), then one JSON line."""
import argparse, json, os, tempfile, time

import torch
from transformers import AutoConfig, AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--prompts", default="512,2048")
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--decode-prompt", type=int, default=512)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--dtype", default="float16")
    ap.add_argument("--attn", default="", help="comma-separated attn_implementation values (default: transformers' choice)")
    a = ap.parse_args()
    for impl in a.attn.split(",") if a.attn else [None]:
        run(a, impl)


def run(a, impl):
    with tempfile.TemporaryDirectory() as d:
        with open(a.config) as f, open(os.path.join(d, "config.json"), "w") as g:
            g.write(f.read())
        cfg = AutoConfig.from_pretrained(d)
    t0 = time.time()
    torch.manual_seed(0)
    with torch.device("cuda"):
        kw = {"attn_implementation": impl} if impl else {}
        model = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, a.dtype), **kw)
    model.eval()
    print(f"transformers model ({a.dtype}, attention {model.config._attn_implementation}) on the GPU in "
          f"{time.time() - t0:.1f} s", flush=True)
    vocab = cfg.vocab_size
    res = {"prefill_tok_s": {}, "decode_tok_s": {}, "dtype": a.dtype, "attn": model.config._attn_implementation}
    with torch.inference_mode():
        for p in [int(x) for x in a.prompts.split(",") if x]:
            ids = torch.randint(0, vocab, (1, p), device="cuda")
            best = 0
            for _ in range(4):  # the first is warm-up
                torch.cuda.synchronize()
                t = time.time()
                model(ids, use_cache=True, logits_to_keep=1)
                torch.cuda.synchronize()
                best = max(best, p / (time.time() - t))
            res["prefill_tok_s"][p] = best
            print(f"prefill {p} tokens: {best:.1f} tok/s", flush=True)
        for b in [int(x) for x in a.batches.split(",")]:
            ids = torch.randint(0, vocab, (b, a.decode_prompt), device="cuda")
            out = model(ids, use_cache=True, logits_to_keep=1)
            pkv, tok = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            for i in range(3):  # warm-up steps
                out = model(tok, past_key_values=pkv, use_cache=True)
                pkv, tok = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
            t = time.time()
            for i in range(a.steps):
                out = model(tok, past_key_values=pkv, use_cache=True)
                pkv, tok = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
            rate = b * a.steps / (time.time() - t)
            res["decode_tok_s"][b] = rate
            print(f"decode batch {b}: {rate:.1f} tok/s", flush=True)
            del out, pkv
            torch.cuda.empty_cache()
    import transformers
    res["transformers"], res["torch"] = transformers.__version__, torch.__version__
    print(json.dumps(res))
    del model
    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
