"""Every `fluidstack ...` command the README and docs/*.md show names commands and
options that exist: a renamed option or command otherwise survives in the docs until a
reader pastes it and gets "No such option". Only the command line is checked (nothing
runs), in code blocks and in inline code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import click
import pytest

from fluidstack.cli.app import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
_SHELL = ("console", "bash", "sh", "shell", "")
_PASSED_ON = {("fluidstack", "emulator")}
"""Commands that hand their arguments to another program (the emulator's own flags)."""


def doc_commands(page: Path) -> Iterator[str]:
    """The `fluidstack ...` command lines of ``page``: after a prompt, a pipe or `$(`
    in shell code blocks, and whole inline code spans without placeholders."""
    text = page.read_text()
    for lang, body in _FENCE.findall(text):
        if lang not in _SHELL:
            continue
        for line in body.splitlines():
            found = re.search(r"(?:^\$?\s*|[|;&]\s*|\$\(|xargs\s+)(fluidstack\s.*)", line.strip())
            if found:
                command = re.split(r"\s+#\s", found.group(1))[0]  # a trailing comment
                yield re.split(r"\s(?:&&|\|\|?|;|\))\s?", command)[0].rstrip(')"\\ ')
    for span in re.findall(r"`(fluidstack [^`]+)`", _FENCE.sub("", text)):
        if not re.search(r"[\[\]|…]|\.\.\.", span):
            yield span


def _options(command: click.Command) -> Dict[str, click.Parameter]:
    return {
        name: param
        for param in command.params
        for name in [*param.opts, *param.secondary_opts]
        if isinstance(param, click.Option)
    }


def problems(line: str) -> List[str]:
    """What in ``line`` the CLI does not know: a command, or an option of its command
    (the global ``-o``/``-q`` are accepted after the command too)."""
    words = shlex.split(line)[1:]
    context = click.Context(cli)
    command: click.Command = cli
    path = ["fluidstack"]
    found: List[str] = []
    index = 0
    while index < len(words) and tuple(path) not in _PASSED_ON:
        word = words[index]
        index += 1
        if word == "--":
            break
        if word.startswith("--") or re.match(r"^-[a-zA-Z]$", word):
            name = word.split("=", 1)[0]
            option = _options(command).get(name) or _options(cli).get(name)
            if name in ("-h", "--help"):
                continue
            if option is None:
                found.append(f"{' '.join(path)} has no option {name}")
            elif not getattr(option, "is_flag", False) and "=" not in word:
                index += 1  # its value
            continue
        if isinstance(command, click.Group):
            sub = command.get_command(context, word)
            if sub is None:
                found.append(f"{' '.join(path)} has no command {word!r}")
                break
            command = sub
            path.append(word)
    return found


def _cases() -> List[Tuple[str, str]]:
    return [(page.name, line) for page in PAGES for line in doc_commands(page)]


def test_the_docs_show_many_commands() -> None:
    assert len(_cases()) > 150


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_command_in_the_docs_exists(page: Path) -> None:
    broken = {line: problems(line) for line in doc_commands(page)}
    assert {line: found for line, found in broken.items() if found} == {}


def test_a_wrong_command_or_option_is_found() -> None:
    assert problems("fluidstack instances create --gpu-type X --wait") == []
    assert problems("fluidstack -o json atlas instances list -q") == []
    assert problems("fluidstack instances craete") == [
        "fluidstack instances has no command 'craete'"
    ]
    assert problems("fluidstack instances create --gpu X") == [
        "fluidstack instances create has no option --gpu"
    ]
    assert problems("fluidstack emulator --port 8080 --ssh") == []
