"""The README's claims that code can check: its Python example runs as written (at a smaller
size), its links resolve inside the repository, and `--help` describes the default forcing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neurodsr.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_api_example_runs(tmp_path, monkeypatch):
    block = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    # the same calls at a size that trains in seconds; each replacement must match once
    small = block
    for old, new in (
        ("lorenz63(20_000,", "lorenz63(3_000,"),
        ("seeds=4, max_minutes=10", "seeds=1, epochs=2, progress=False"),
        ("n_steps=10_000", "n_steps=100"),
    ):
        assert small.count(old) == 1, old
        small = small.replace(old, new)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(small, "README.md", "exec"), scope)  # our own README, not user input
    assert scope["traj"].shape == (100, 3)
    assert (tmp_path / "lorenz.pt").is_file()
    assert {"D_stsp", "D_H", "PE"} <= set(scope["result"].metrics)


def test_links_resolve_in_a_clone():
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if target.startswith(("http://", "https://")):
            continue
        assert ".." not in Path(target).parts, f"{target} points outside the repository"
        assert (ROOT / target).exists(), target


@pytest.mark.parametrize("command", [None, "fit"])
def test_help_names_the_default_forcing(command, capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"] if command else ["--help"])
    text = capsys.readouterr().out
    assert "sparsely forced" not in text
    assert "GTF" in text
