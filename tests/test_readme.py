"""The README runs as written: every Python block, in order, in one namespace (the Hub block
against the loopback Hub server), and every ``robnetzoo`` command line names a real command."""

import re
from pathlib import Path

import pytest

from tests.support.hubserver import HubServer, point_client_at

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_blocks_run(tmp_path, monkeypatch, digits_folder):
    blocks = _blocks("python")
    assert len(blocks) >= 2  # the tour, and the Hub block
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    with HubServer({"your-org/digits-robnet": digits_folder}) as hub:
        point_client_at(hub, monkeypatch)
        namespace: dict = {}
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
        assert any("digits-robnet" in r for r in hub.requests)
    assert namespace["report"].n_examples == 64
    assert namespace["model"].zoo_config.name == "digits-robnet"  # the Hub block loaded it


def test_readme_commands_exist():
    from robnetzoo.cli.app import app

    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    lines = [line for block in _blocks("bash") for line in block.splitlines() if line.startswith("robnetzoo ")]
    assert lines
    for line in lines:
        assert line.split()[1] in commands, line


@pytest.mark.parametrize("flag", ["--weights", "--norm", "--overwrite", "--resume", "--attack"])
def test_readme_eval_flags_exist(flag, capsys):
    from robnetzoo.cli.app import main

    assert main(["eval", "--help"]) == 0
    assert flag in capsys.readouterr().out
