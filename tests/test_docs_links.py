"""Every relative link in README.md and docs/*.md points to a file that exists, and every
`#anchor` to a heading that exists in the markdown file it names.

Links inside fenced code blocks and inline code are not links; http(s), mailto and other
URL schemes are not checked (no network in tests). Anchors follow GitHub's heading slugs:
lower case, punctuation other than `-` and `_` dropped, spaces to `-`, and `-1`, `-2`, ...
appended to repeated headings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
# [text](target) and ![alt](target); the target stops at whitespace or ')' (an optional "title" follows).
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (before the duplicate suffix)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    """Every heading anchor of a markdown file, with GitHub's -1, -2 ... for repeated headings."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(markdown.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def broken_links(markdown: Path) -> list[str]:
    """'file:line: target (why)' for each relative link of `markdown` that leads nowhere."""
    problems = []
    for number, line in prose_lines(markdown.read_text(encoding="utf-8")):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if SCHEME.match(target):
                continue
            path_part, _, anchor = target.partition("#")
            destination = (markdown.parent / path_part).resolve() if path_part else markdown
            where = f"{markdown.name}:{number}: {target}"
            if not destination.exists():
                problems.append(f"{where} (no such file: {destination})")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                problems.append(f"{where} (no heading with anchor #{anchor} in {destination.name})")
    return problems


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("markdown", documents(), ids=lambda path: path.name)
def test_relative_links_lead_to_existing_files_and_headings(markdown: Path) -> None:
    assert broken_links(markdown) == []


def test_docs_pages_are_linked_from_the_readme_or_another_page() -> None:
    linked = set()
    for markdown in documents():
        for _, line in prose_lines(markdown.read_text(encoding="utf-8")):
            for target in LINK.findall(INLINE_CODE.sub("", line)):
                if not SCHEME.match(target) and target.partition("#")[0]:
                    linked.add((markdown.parent / target.partition("#")[0]).resolve())
    orphans = [path.name for path in documents()[1:] if path.resolve() not in linked]
    assert orphans == []


def test_checker_reports_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Some section (`key`)\n\n## Some section (`key`)\n")
    (tmp_path / "picture.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n"
        "[ok](other.md) [ok](other.md#some-section-key) [ok](other.md#some-section-key-1) "
        "![ok](picture.png) [ok](#title) [web](https://example.com/missing.md)\n"
        "`[not a link](missing.md)`\n"
        "```\n[in a code block](missing.md)\n```\n"
        "[broken](missing.md) [broken](other.md#no-such-section) [broken](#nowhere)\n"
    )
    problems = broken_links(page)
    assert len(problems) == 3, problems
    assert "missing.md (no such file" in problems[0]
    assert "#no-such-section" in problems[1] and "#nowhere" in problems[2]
