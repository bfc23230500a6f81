"""`mlops serve`: argument checks that answer before any server starts (exit code 2 for bad input)."""

from __future__ import annotations

import pytest

from mlops_provider.serving.cli import EXIT_USAGE, build_parser, serve_main


def test_unknown_model_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["no_such_model", "--idle"]) == EXIT_USAGE
    assert "model 'no_such_model' has no config file" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "7000", "--admin-port", "7000"], "--admin-port must differ from --port"),
    (["--port", "70000"], "--port 70000 is not a TCP port"),
])
def test_bad_ports_are_bad_input(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["credit_default", "--idle", *args]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_version_alias_and_idle_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["credit_default", "--version", "2", "--alias", "champion"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_defaults_serve_the_champion_on_loopback() -> None:
    args = build_parser().parse_args(["credit_default"])
    assert (args.host, args.port, args.admin_port, args.version, args.alias, args.idle) == (
        "127.0.0.1", 5050, None, None, None, False)
