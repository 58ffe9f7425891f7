"""c_literal.py - the C string literal that a source file assigns to a name, as the compiler
sees it: the adjacent "..." pieces joined and their escapes decoded (what lies between them,
such as a macro that expands to more source, is skipped). The cuda_emu scripts cut kernel
sources out of src/runtime/*.c with it and run them on the CPU.

    from c_literal import literal            (PYTHONPATH=bench/cuda_emu)
    literal(path, "kernel_source")           the assignment "kernel_source = ...;\\n"
    literal(path, "kernel_source[]", end)    up to `end` where ";\\n" comes earlier

    python3 bench/cuda_emu/c_literal.py FILE NAME    prints it"""
import re
import sys

PIECE = re.compile(r'"((?:[^"\\]|\\.)*)"')


def literal(path, name, end=";\n"):
    text = open(path).read()
    head = name + " ="
    if head not in text:
        raise SystemExit(f"{path}: no '{head}'")
    body = text.split(head, 1)[1].split(end, 1)[0]
    return "".join(piece.encode().decode("unicode_escape") for piece in PIECE.findall(body))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: c_literal.py FILE NAME")
    sys.stdout.write(literal(sys.argv[1], sys.argv[2]))
