"""neurodsr.session: the one layout of a session's results, its typed records and the one
attribute decoder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from neurodsr import session as S
from neurodsr.errors import InputError
from neurodsr.provenance import netcdf_safe

ROOT = Path(__file__).resolve().parents[1]


def test_layout_paths_come_from_the_one_table(tmp_path):
    layout = S.SessionLayout.of(tmp_path / "mouse1")
    assert layout.session == "mouse1" and layout.root == tmp_path / "mouse1"
    assert layout.metrics == tmp_path / "mouse1" / "metrics.json"
    assert layout.weights == tmp_path / "mouse1" / "models" / "fit.pt"
    assert layout.log("train") == tmp_path / "mouse1" / "logs" / "train.log"
    assert {k: layout.path(k) for k in S.FILES} == {
        k: tmp_path / "mouse1" / v for k, v in S.FILES.items()
    }
    # fit's outputs beside its weights are the session's
    beside = S.fit_outputs(layout.weights)
    assert beside == {k: layout.path(k) for k in ("weights", "fit_summary", "train_log")}
    with pytest.raises(AttributeError, match="no file 'fit_nc'"):
        _ = layout.fit_nc


def test_the_module_docstring_lists_every_file():
    for name in S.FILES.values():
        assert name in S.__doc__, name


def test_rules_spell_no_file_name_of_a_session():
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = path.read_text()
        assert not re.search(r'"results/\{session\}', text), path.name
        assert "json.loads" not in text, path.name  # no stage output parsed in Snakemake


@pytest.mark.parametrize(
    "value",
    [[1, 2.5, None], {"a": [1, 2], "b": "x"}, None, "plain text", 3, 2.5, "[not json"],
)
def test_decode_attr_inverts_netcdf_safe(value):
    assert S.decode_attr(netcdf_safe(value)) == value


def test_decode_attrs_takes_numpy_scalars_and_a_prefix():
    attrs = {"metric_D_stsp": np.float32(0.5), "metric_seeds": "[0, 1]", "dt": 0.01}
    out = S.decode_attrs(attrs, "metric_")
    assert out == {"D_stsp": 0.5, "seeds": [0, 1]}
    assert type(out["D_stsp"]) is float
    assert S.decode_attr(netcdf_safe(True)) == 1  # bools are stored as ints


def test_lyapunov_summary_tolerates_extra_keys(tmp_path):
    data = {
        "lambda_max": 0.9,
        "lambda_std": None,
        "tau": 38,
        "verdict": "chaotic",
        "tau_explanation": "ln 2 / lambda_max",
        "method": "kantz",
        "a_new_field": {"x": 1},
    }
    path = tmp_path / "lyapunov.json"
    path.write_text(json.dumps(data))
    ly = S.LyapunovSummary.read(path)
    assert ly.lambda_max == 0.9 and ly.lambda_std is None and ly.tau == 38
    assert ly.extra == {"method": "kantz", "a_new_field": {"x": 1}}
    assert ly.to_json()["a_new_field"] == {"x": 1} and ly.to_json()["tau"] == 38


def test_damaged_records_name_the_file(tmp_path):
    bad = tmp_path / "lyapunov.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"lyapunov\.json.*not valid JSON"):
        S.LyapunovSummary.read(bad)
    with pytest.raises(InputError, match="no fit summary"):
        S.FitSummary.read(tmp_path / "fit.json")
    (tmp_path / "fit.json").write_text(json.dumps({"model": {}}))
    with pytest.raises(InputError, match=r"fit.json.*not a fit summary"):
        S.FitSummary.read(tmp_path / "fit.json")
