"""Replaces (or appends) one '## ' section of bench/RESULTS.md, keeping the others.
Usage: /usr/bin/python3 bench/write_section.py RESULTS.md SECTION_FILE "## Heading"."""
import os
import re
import sys

path, section_path, heading = sys.argv[1], sys.argv[2], sys.argv[3]
section = open(section_path).read().rstrip("\n") + "\n"
text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
lines = text.splitlines(keepends=True)
start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == heading), None)
if start is None:
    text = text.rstrip("\n") + "\n\n" + section
else:
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^#{1,2} ", lines[i])),
               len(lines))
    rest = "".join(lines[end:])
    text = "".join(lines[:start]) + section + ("\n" + rest if rest else "")
open(path, "w").write(text)
