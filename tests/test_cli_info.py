"""`edgetokens info` prints the papers' parameter and FLOP counts."""
import json

import pytest

from edgetokens.cli import main


@pytest.mark.parametrize("name,gflops,params_m,fvcore", [
    ("mixste-243", 277.25, 33.78, 147.94),
    ("hot-mixste-243", 167.51, 35.00, 88.43),
    ("motionbert-243", 131.09, 16.00, None),
    ("hot-motionbert-243", 63.21, 16.35, None),
])
def test_info_json_reproduces_paper_counts(capsys, name, gflops, params_m, fvcore):
    assert main(["info", name, "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert isinstance(facts["params"], int)
    assert round(facts["params"] / 1e6, 2) == params_m
    assert round(facts["gflops"], 2) == gflops
    if fvcore is not None:  # specs/HOT.md §4.2: fvcore's own count
        assert round(facts["gflops_fvcore"], 2) == fvcore
    assert facts["gflops_fvcore"] < facts["gflops"]


def test_info_table_and_latency(capsys):
    assert main(["info", "mixste", "hot-mixste", "--latency", "2", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "hot-mixste" in out and "1.90" in out and "1.02" in out and "p50" in out


def test_unknown_model_is_a_message_not_a_traceback(capsys):
    assert main(["info", "mixste-244"]) == 2
    assert "known models" in capsys.readouterr().err
