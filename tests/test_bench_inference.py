"""minicnn.bench.run_inference and ``minicnn bench models --inference``: eval-mode forwards of
the zoo's models against PyTorch (NCHW, channels_last) and ONNX Runtime, on LeNet-5 with one
timed pair. These tests check the records, the answer check and the missing-peer paths, not
the speed."""
import io
import json
import sys

import numpy as np
import pytest

from minicnn import bench, cli
from minicnn.bench import models

QUICK = dict(threads=1, repeat=1, warmup=0)


@pytest.fixture
def ort():
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


def test_lenet5_against_every_peer(torch, ort):
    out = io.StringIO()
    report = bench.run_inference(["LeNet5"], out=out, **QUICK)
    small, large = report.records
    assert [r["case"] for r in report.records] == ["lenet5 1x28x28 batch 1",
                                                    "lenet5 1x28x28 batch 128"]
    for rec, batch in ((small, 1), (large, 128)):
        assert rec["op"] == "inference" and rec["batch"] == batch and rec["threads"] == 1
        assert rec["shape"] == [batch, 1, 28, 28] and "error" not in rec
        for fw in ("minicnn", "torch", "torch_cl", "ort"):
            lo, med, hi = rec[f"{fw}_ms"]
            assert 0 < lo <= med <= hi
        ratios = [rec["ratio"], rec["ratio_cl"], rec["ratio_ort"]]
        assert min(ratios) > 0 and rec["ratio_vs_best"] == max(ratios)
        assert rec["ratio_vs_best_torch"] == max(ratios[:2])
        assert rec["rel_err"] < 1e-5 and 0 <= rec["max_abs_err"] < 1e-5
        assert rec["cpu_per_wall"] > 0
    for fw in ("minicnn", "torch", "torch_cl", "ort"):
        # the spread of the very calls that were timed: max / median of the same list
        assert small[f"{fw}_spread"] == pytest.approx(small[f"{fw}_ms"][2] / small[f"{fw}_ms"][1])
        assert len(small[f"{fw}_alone_ms"]) == 3
        assert f"{fw}_spread" not in large and f"{fw}_alone_ms" not in large
    assert set(report.summary) == {
        *(f"geomean inference ratio vs {w}, batch {b}" for w in ("best peer", "best torch",
                                                                  "onnxruntime") for b in (1, 128)),
        "batch 1 paired / alone median time"}
    assert set(report.summary["batch 1 paired / alone median time"]) == {
        "minicnn", "torch", "torch_cl", "ort"}
    assert report.host["onnxruntime"] == ort.__version__ and report.host["threads"] == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("# inference:") and "onnxruntime" in lines[0]
    assert lines[1].split()[:4] == ["case", "minicnn", "ms", "torch"] and "ort" in lines[1]


def test_the_onnx_session_computes_what_minicnn_does(ort):
    import minicnn

    minicnn.manual_seed(0)
    model = minicnn.models.get_model("lenet5").eval()
    session = models.ort_session(model, (1, 28, 28), 1, ort)
    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28), dtype=np.float32)
    with minicnn.no_grad():
        want = model(minicnn.tensor(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"input": x})[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("peer, name", [("ort", "ONNX Runtime"), ("torch_cl",
                                                                  "PyTorch eager channels_last")])
def test_a_peer_that_answers_differently_is_a_failure(torch, ort, monkeypatch, peer, name):
    calls = models._calls

    def one_wrong(*args):
        found = calls(*args)
        right = found[peer]
        found[peer] = lambda: right() * 1.01
        return found

    monkeypatch.setattr(models, "_calls", one_wrong)
    report = bench.run_inference(["lenet5"], **QUICK)
    assert report.failures == report.records and len(report.records) == 2
    for rec in report.records:
        assert rec["error"].startswith("eval forward:") and f"differs from {name}" in rec["error"]
        assert "minicnn_ms" not in rec and "ratio" not in rec


@pytest.mark.parametrize("missing", [("onnxruntime",), ("torch",), ("onnxruntime", "torch")])
def test_missing_peers_are_skipped_with_a_note(monkeypatch, missing):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # its import raises ImportError
    out = io.StringIO()
    report = bench.run_inference(["lenet5 1x"], out=out, **QUICK)
    peers = {"torch", "torch_cl"} - ({"torch", "torch_cl"} if "torch" in missing else set())
    peers |= set() if "onnxruntime" in missing else {"ort"}
    assert ("onnxruntime is not installed" in out.getvalue()) == ("onnxruntime" in missing)
    for rec in report.records:
        assert {k[:-3] for k in rec if k.endswith("_ms") and "alone" not in k} == \
            {"minicnn"} | peers
        assert ("ratio_vs_best" in rec) == bool(peers)
        assert ("ratio_vs_best_torch" in rec) == ("torch" in peers)
    assert report.records[0]["minicnn_spread"] >= 1


def test_a_model_that_does_not_export_runs_without_onnx_runtime(torch, ort, monkeypatch):
    import minicnn.onnx

    def no_export(*args):
        raise minicnn.onnx.ExportError("op frobnicate has no ONNX form")

    monkeypatch.setattr(models, "ort_session", no_export)
    out = io.StringIO()
    report = bench.run_inference(["lenet5"], out=out, **QUICK)
    assert "# no ONNX Runtime peer for lenet5 1x28x28: op frobnicate" in out.getvalue()
    assert all("ort_ms" not in r and r["ratio_vs_best"] > 0 for r in report.records)
    assert set(report.summary["batch 1 paired / alone median time"]) == {
        "minicnn", "torch", "torch_cl"}


# ---------------------------------------------------------------- the command line


def bench_cli(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        cli.main(["bench", *map(str, argv)])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_cli_models_inference(capsys, tmp_path, torch, ort):
    code, out, err = bench_cli(capsys, "models", "--inference", "--cases", "lenet5", "--repeat",
                               "1", "--threads", "1", "--json", tmp_path / "r.json")
    assert code == 0, err
    assert "# inference:" in out and "lenet5 1x28x28 batch 128" in out
    assert "train step" not in out and "# models:" not in out
    doc = json.load(open(tmp_path / "r.json"))
    assert [(r["op"], r["batch"]) for r in doc["records"]] == [("inference", 1),
                                                               ("inference", 128)]
    assert doc["host"]["onnxruntime"] == ort.__version__


def test_cli_inference_goes_with_models_on_the_cpu(capsys):
    code, out, err = bench_cli(capsys, "ops", "--inference")
    assert code == 2 and out == "" and "--inference times whole models" in err
    code, out, err = bench_cli(capsys, "models", "--inference", "--device", "cuda")
    assert code == 2 and out == "" and "--inference runs on the CPU only" in err
