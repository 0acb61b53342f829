"""One source per default: the workflow's schema, the API, TrainConfig and the command line
agree (training/defaults.py is the table; this test pins the schema and the rest to it)."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from neurodsr.api import fit, train_fit
from neurodsr.cli import build_parser
from neurodsr.dynamics.tau import choose_tau, estimate_tau
from neurodsr.training import TrainConfig
from neurodsr.training.defaults import EVALUATE_DEFAULTS, FIT_DEFAULTS, GTF_ALPHA

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def _schema_defaults(section: str) -> dict:
    props = SCHEMA["$defs"][section]["properties"]
    return {key: spec.get("default") for key, spec in props.items()}


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _cli_defaults(name: str) -> dict:
    return {a.dest: a.default for a in _subparser(name)._actions if a.dest != "help"}


def test_schema_train_section_is_the_fit_table():
    train = _schema_defaults("train")
    assert train == {k: FIT_DEFAULTS[k] for k in train}
    assert set(FIT_DEFAULTS) - set(train) == {"tau", "test_fraction"}
    assert _schema_defaults("lyapunov")["tau"] == FIT_DEFAULTS["tau"]


def test_schema_evaluate_section_is_the_evaluate_table():
    assert _schema_defaults("evaluate") == EVALUATE_DEFAULTS


def test_every_config_key_is_a_cli_flag_with_the_same_default():
    # the workflow passes each key of train / evaluate as --key (workflow/rules/common.smk)
    fit_cli = _cli_defaults("fit")
    for key, value in {**_schema_defaults("train"), "tau": FIT_DEFAULTS["tau"]}.items():
        assert key in fit_cli, key
        assert fit_cli[key] == value, key
    evaluate_cli = _cli_defaults("evaluate")
    for key, value in _schema_defaults("evaluate").items():
        assert evaluate_cli[key] == value, key


def test_lyapunov_section_matches_the_lyapunov_command_and_the_tau_rule():
    cli = _cli_defaults("lyapunov")
    for key, value in _schema_defaults("lyapunov").items():
        if key != "tau":
            assert cli[key] == value, key
    for fn in (choose_tau, estimate_tau):
        params = inspect.signature(fn).parameters
        for key in ("tau_min", "tau_max", "not_chaotic"):
            assert params[key].default == cli[key], (fn.__name__, key)


@pytest.mark.parametrize("fn", [fit, train_fit])
def test_api_defaults_are_the_table(fn):
    params = inspect.signature(fn).parameters
    shared = [k for k in FIT_DEFAULTS if k in params]
    assert len(shared) >= 6
    for key in shared:
        assert params[key].default == FIT_DEFAULTS[key], key


def test_train_config_defaults_are_the_table():
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    # TrainConfig holds what is trained: forcing, tau and alpha are resolved by fit ("auto" ->
    # a forcing, a number of steps, an unset alpha -> GTF_ALPHA) and the budget is passed in
    # by fit, so these four are the trainer's own (gtf, 30 steps for a bare STF config, 0.1,
    # no budget)
    assert fields["forcing"] == "gtf" and fields["tau"] == 30 and fields["max_minutes"] is None
    assert FIT_DEFAULTS["alpha"] is None and fields["alpha"] == GTF_ALPHA == 0.1
    for key in set(fields) & set(FIT_DEFAULTS) - {"forcing", "tau", "alpha", "max_minutes"}:
        assert fields[key] == FIT_DEFAULTS[key], key
