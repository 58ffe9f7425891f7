"""Random Jinja expressions for the differential test (snippet_diff.py --random N): literals,
context variables, operators, filters, tests, methods, conditionals and subscripts nested a few
levels, inside {{ }}, {% for %} and {% if %}. Seeded, so a failure can be reproduced."""
import random

lits = ['0', '1', '-1', '2', '3', '2.5', '-0.5', '1e3', "'a'", "'Hello World'", "''", "' x '", "'é😀'", "'a,b'",
        'true', 'false', 'none', '[]', '[1, 2, 3]', "['b', 'a']", "{'k': 1, 'j': [2]}", '{}', '(1, 2)', "'3'", "'1.5'"]
names = ['x', 'y', 's', 'n', 't', 'f', 'l', 'd', 'people', 'undefined_v', 'messages', 'messages[0]', 'd.c', 'l[0]']
binops = ['+', '-', '*', '/', '//', '%', '**', '~', '==', '!=', '<', '<=', '>', '>=', 'in', 'not in', 'and', 'or']
filters = ['upper', 'lower', 'title', 'capitalize', 'trim', 'length', 'count', 'first', 'last', 'join', "join(',')", 'tojson',
           'string', 'int', 'float', 'list', 'items', 'dictsort', "default('D')", "replace('a', 'b')", 'indent(2)',
           'unique', 'reverse', 'sort', 'safe', 'abs', 'round', 'round(1)', 'wordcount', 'sum', 'min', 'max',
           "map('string')", "select('odd')", "reject('none')", "selectattr('age')", "map(attribute='name')", 'center(9)',
           "tojson(indent=1)", "batch(2)", "e", "d(1)", "int(9)", "trim('a')"]
tests = ['defined', 'undefined', 'none', 'string', 'number', 'mapping', 'iterable', 'sequence', 'boolean', 'true',
         'false', 'even', 'odd', 'divisibleby(2)', 'integer', 'float', 'lower', 'upper', 'callable', "eq 1", "in [1, 'a']"]
methods = ["strip()", "upper()", "split(',')", "split()", "startswith('H')", "endswith('d')", "replace('l', 'L')",
           "lower()", "title()", "format(1)", "join(['x', 'y'])", "items()", "keys()", "values()", "get('k')",
           "get('z', 0)", "count(1)", "index(1)", "find('o')", "lstrip('H')", "rstrip()", "splitlines()", "zfill(4)"]
def expr(rng, d):
    r = rng.random()
    if d <= 0 or r < 0.25:
        return rng.choice(lits + names)
    if r < 0.45:
        return f'({expr(rng, d-1)} {rng.choice(binops)} {expr(rng, d-1)})'
    if r < 0.6:
        return f'{expr(rng, d-1)} | {rng.choice(filters)}'
    if r < 0.7:
        return f'({expr(rng, d-1)} is {rng.choice(["", "not "])}{rng.choice(tests)})'
    if r < 0.8:
        return f'({expr(rng, d-1)}).{rng.choice(methods)}'
    if r < 0.85:
        return f'({expr(rng, d-1)} if {expr(rng, d-1)} else {expr(rng, d-1)})'
    if r < 0.9:
        return '(' + expr(rng, d-1) + ')[' + rng.choice(["0", "-1", "1:", "::-1", ":2", "1", "'k'"]) + ']'
    if r < 0.95:
        return f'[{expr(rng, d-1)}, {expr(rng, d-1)}]'
    return f'(not {expr(rng, d-1)})'


def generate(seed, count):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        e = expr(rng, rng.randint(1, 4))
        k = rng.random()
        if k < 0.7:
            out.append("{{ " + e + " }}")
        elif k < 0.85:
            out.append("{% for v in " + e + " %}[{{ v }}]{% else %}E{% endfor %}")
        else:
            out.append("{% if " + e + " %}T{% else %}F{% endif %}")
    return out
