"""The consistency-lab command: listing, simulating, JSON output and clear errors."""

import json
import subprocess
import sys

import pytest

from consistency_lab.cli import main


def cli(*args):
    return subprocess.run([sys.executable, "-m", "consistency_lab", *args], capture_output=True, text=True)


def test_list_shows_scenarios_and_parameters(capsys):
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    assert "register:" in out and "mode=" in out and "one of sync, semi-sync, async, quorum" in out


def test_json_has_seed_params_metrics_digest(capsys):
    assert main(["simulate", "register", "--seed", "3", "--param", "mode=quorum", "--param", "r=1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seed"] == 3 and data["params"]["r"] == 1 and data["params"]["mode"] == "quorum"
    assert "stale_read_fraction" in data["metrics"] and len(data["trace_digest"]) == 64


def test_same_seed_same_digest_in_two_processes():
    args = ["simulate", "register", "--seed", "11", "--param", "mode=async", "--param", "loss=0.1",
            "--param", "faults=A|B@100-600", "--json"]
    a, b = cli(*args), cli(*args)
    assert a.returncode == b.returncode == 0, a.stderr
    assert json.loads(a.stdout)["trace_digest"] == json.loads(b.stdout)["trace_digest"]
    c = cli(*[x if x != "11" else "12" for x in args])
    assert json.loads(c.stdout)["trace_digest"] != json.loads(a.stdout)["trace_digest"]


@pytest.mark.parametrize("args,message", [
    (["simulate", "nosuch"], "unknown scenario 'nosuch'; allowed: "),
    (["simulate", "register", "--param", "w=9", "--param", "mode=quorum"], "w=9 must be between 1 and"),
    (["simulate", "register", "--param", "colour=red"], "unknown parameter 'colour'"),
    (["simulate", "register", "--param", "novalue"], "must look like KEY=VALUE"),
    (["simulate", "register", "--seed", "-4"], "argument --seed: seed=-4 must be an integer >= 0"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    r = cli(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
