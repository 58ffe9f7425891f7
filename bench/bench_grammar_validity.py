#!/usr/bin/python3
"""Validates the generations bench_grammar_validity.c wrote (JSON lines {"file", "text"}) with
python3-jsonschema and the fixtures' format checker (testdata/json-schema/validate.py), using
the draft each schema's $schema names (Draft 2020-12 when none: real-world schemas are often
draft 4-7, where `items` may be a list and `dependencies` is a keyword). Prints each invalid
generation and a summary.

usage: bench_grammar_validity.py OUT.jsonl [VALIDATE_DIR]"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "..", "shared", "testdata", "json-schema"))
sys.path.insert(0, "/work/shared/testdata/json-schema")
import jsonschema  # noqa: E402
import validate  # noqa: E402

validators = {}
bad_files = {}
total = bad = 0
for line in open(sys.argv[1], encoding="utf-8"):
    rec = json.loads(line)
    f = rec["file"]
    if f not in validators:
        doc = json.load(open(f, encoding="utf-8"))
        schema = doc["schema"] if isinstance(doc, dict) and "schema" in doc and "tests" in doc else doc
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validators[f] = cls(schema, format_checker=validate.checker)
    total += 1
    try:
        inst = json.loads(rec["text"])
        errs = list(validators[f].iter_errors(inst))
        why = errs[0].message[:200] + " at " + "/".join(map(str, errs[0].absolute_path)) if errs else None
    except Exception as e:  # not JSON at all, or the validator failed
        why = "not JSON: %s" % e
    if why:
        bad += 1
        bad_files.setdefault(f, 0)
        bad_files[f] += 1
        if bad_files[f] <= 2:
            print("INVALID %s: %s\n    text: %s" % (os.path.basename(f), why, rec["text"][:300]))
print("generations: %d, invalid: %d, schemas with an invalid generation: %d of %d" % (total, bad, len(bad_files), len(validators)))
