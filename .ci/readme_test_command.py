"""Print the test command from README.md's Quickstart, so CI runs it verbatim."""

from pathlib import Path

MARK = "<!-- test-command -->"

text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text(encoding="utf-8")
lines = text.splitlines()
for i, line in enumerate(lines):
    if line.strip() == MARK:
        block = [ln for ln in lines[i + 1 :] if ln.strip()]
        if block and block[0].startswith("```"):
            print(block[1].strip())
            raise SystemExit(0)
raise SystemExit("README.md has no test command after " + MARK)
