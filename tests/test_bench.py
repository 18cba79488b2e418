"""minicnn.bench: compare() (records, answer checks, references, work rates, threads), Report
(table, JSON round trip, plot), the timing primitives, the op and model runners on one small
case each, and ``minicnn bench`` on the command line. Everything runs on tiny inputs with one or
two timed pairs: these tests check the machinery, not the speed."""
import json
import sys

import numpy as np
import pytest

import minicnn
from minicnn import bench, cli
from minicnn.bench import BenchmarkMismatch, Report, compare, harness

FAST = dict(repeat=2, warmup=1)


def add(a, b):
    return a + b


@pytest.fixture
def arrays(rng):
    return [(rng.standard_normal((4, 5), dtype=np.float32),
             rng.standard_normal((4, 5), dtype=np.float32)) for _ in range(2)]


# ---------------------------------------------------------------- compare


def test_compare_records(arrays):
    report = compare(np.add, add, arrays, **FAST)
    assert isinstance(report, Report) and len(report.records) == 2
    for rec in report.records:
        assert rec["reference"] == "add" and rec["case"].startswith("4x5, 4x5")
        for key in ("candidate_ms", "reference_ms"):
            lo, med, hi = rec[key]
            assert 0 < lo <= med <= hi
        assert rec["ratio"] > 0 and rec["cpu_per_wall"] > 0
        assert rec["max_abs_err"] == rec["rel_err"] == 0.0
        assert rec["threads"] == minicnn.get_num_threads()
        assert "gflops" not in rec and "gbps" not in rec
    assert report.records[0]["case"] != report.records[1]["case"]  # equal shapes: numbered
    assert report.host["cores"] >= 1 and report.host["numpy"] == np.__version__
    text = str(report)
    assert text.splitlines()[0].split()[:3] == ["case", "reference", "cand."]
    assert len(text.splitlines()) == 3


def test_a_wrong_kernel_is_a_failure_not_a_result(arrays):
    with pytest.raises(BenchmarkMismatch) as info:
        compare(lambda a, b: (a + b) * 1.01, {"numpy": add}, {"first": arrays[0]}, **FAST)
    message = str(info.value)
    assert "case 'first'" in message and "numpy" in message
    assert "max abs error" in message and "rel error" in message
    assert isinstance(info.value, AssertionError)
    # within the tolerance: accepted
    report = compare(lambda a, b: (a + b) * (1 + 1e-6), add, arrays[:1], **FAST)
    assert 0 < report.records[0]["rel_err"] < 1e-5


@pytest.mark.parametrize("bad, what", [
    (lambda a, b: (a + b)[:2], "shape"),
    (lambda a, b: (a + b, a), "2 outputs"),
    (lambda a, b: np.full_like(a, np.nan), "non-finite"),
])
def test_mismatched_shapes_outputs_and_nans(arrays, bad, what):
    with pytest.raises(BenchmarkMismatch, match=what):
        compare(bad, add, arrays[:1], **FAST)


def test_a_kernel_must_return_its_result(arrays):
    with pytest.raises(TypeError, match="must return"):
        compare(lambda a, b: None, add, arrays[:1], **FAST)


def test_dict_references_named_cases_and_keyword_cases(rng):
    x = rng.standard_normal(100).astype(np.float32)
    refs = {"numpy": lambda x, k: np.sort(x)[:k], "partition": lambda x, k: np.sort(
        np.partition(x, k)[:k])}
    report = compare(lambda x, k: np.sort(x)[:k], refs, {"k=3": {"x": x, "k": 3},
                                                          "k=10": {"x": x, "k": 10}}, **FAST)
    assert [(r["case"], r["reference"]) for r in report.records] == [
        ("k=3", "numpy"), ("k=3", "partition"), ("k=10", "numpy"), ("k=10", "partition")]


def test_flops_and_bytes_give_rates(arrays):
    report = compare(np.add, add, arrays, flops=lambda a, b: a.size, bytes=1e6, **FAST)
    for rec in report.records:
        seconds = rec["candidate_ms"][1] / 1e3
        assert rec["gflops"] == pytest.approx(20 / seconds / 1e9)
        assert rec["gbps"] == pytest.approx(1e6 / seconds / 1e9)
    assert "GFLOP/s" in report.table() and "GB/s" in report.table()


def test_tensors_and_tuples_are_checked(rng, torch):
    x = rng.standard_normal((3, 4), dtype=np.float32)

    def mine(x):
        t = minicnn.tensor(x, requires_grad=True)
        return minicnn.nn.functional.relu(t), x.sum()

    def theirs(x):
        t = torch.tensor(x, requires_grad=True)
        return torch.relu(t), float(x.sum())

    assert compare(mine, theirs, [x], **FAST).records[0]["rel_err"] < 1e-6
    with pytest.raises(BenchmarkMismatch, match=r"output 1"):
        compare(lambda x: (np.maximum(x, 0), x.sum() + 1), theirs, [x], **FAST)


def test_threads_are_set_for_the_run_and_restored(arrays, torch):
    before = minicnn.get_num_threads(), torch.get_num_threads()
    seen = []
    report = compare(lambda a, b: seen.append((minicnn.get_num_threads(),
                                               torch.get_num_threads())) or a + b,
                     add, arrays[:1], threads=1, **FAST)
    assert set(seen) == {(1, 1)} and report.records[0]["threads"] == 1
    assert (minicnn.get_num_threads(), torch.get_num_threads()) == before


# ---------------------------------------------------------------- Report


def test_json_round_trip(arrays, tmp_path):
    report = compare(np.add, add, arrays, flops=10, **FAST)
    report.summary["note"] = "x"
    path = report.to_json(tmp_path / "r.json")
    back = Report.from_json(path)
    assert back.records == report.records and back.host == report.host
    assert back.summary == {"note": "x"} and str(back) == str(report)
    assert json.load(open(path))["host"]["cpu"] == harness.cpu_model()


def test_plot_writes_a_png(arrays, tmp_path):
    pytest.importorskip("matplotlib")
    report = compare(np.add, {"a": add, "b": np.add}, arrays, **FAST)
    report.targets = {"goal": 0.8}
    path = report.plot(tmp_path / "ratios.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no record has a ratio"):
        Report([{"case": "x", "minicnn_ms": [1, 1, 1]}]).plot(tmp_path / "none.png")


def test_a_failed_record_shows_in_the_table():
    report = Report([{"op": "relu", "case": "c", "pass": "fwd", "minicnn_ms": [1.0, 2.0, 3.0]},
                     {"op": "relu", "case": "c", "pass": "bwd", "error": "differs"}])
    lines = str(report).splitlines()
    assert lines[1].split()[-1] == "2" and lines[2].endswith("FAILED: differs")
    assert report.failures == report.records[1:]


# ---------------------------------------------------------------- harness


def test_paired_alone_and_ceilings():
    calls = []
    r = harness.paired(lambda: calls.append("a"), lambda: calls.append("b"), repeat=3, warmup=2)
    assert calls == ["a", "b"] * 5 and set(r) == {"a_ms", "b_ms", "ratio", "cpu_per_wall"}
    assert harness.alone(lambda: None, repeat=2, warmup=0)["ms"][0] >= 0
    with pytest.raises(ValueError, match="repeat"):
        harness.paired(int, int, repeat=0)
    assert harness.sgemm_ceiling(n=128, repeat=2) > 0
    assert harness.copy_bandwidth(1 << 20, threads=2, repeat=2) > 0
    assert harness.peak_rss_mb() > 10


# ---------------------------------------------------------------- the runners


def test_run_ops_one_small_case(torch):
    report = bench.run_ops(["5x5"], threads=1, repeat=1, warmup=0, quick=True)
    assert [(r["case"], r["pass"]) for r in report.records] == [
        ("5x5 1->6 28x28", p) for p in ("fwd", "bwd", "f+b")]
    for rec in report.records:
        assert rec["op"] == "conv2d" and rec["shape"] == [128, 1, 28, 28] and rec["threads"] == 1
        assert rec["rel_err"] < 1e-4 and 0 < rec["fraction_of_ceiling"]
        assert rec["ratio_vs_best"] >= rec["ratio"] > 0 and len(rec["torch_cl_ms"]) == 3
    fwd, bwd = report.records[0], report.records[1]
    assert bwd["gflops"] / fwd["gflops"] == pytest.approx(
        2 * fwd["minicnn_ms"][1] / bwd["minicnn_ms"][1])
    assert report.summary["sgemm_gflops"] > 0 and report.summary["copy_gbps"] > 0
    assert "geomean ratio vs best torch, conv f+b" in report.summary


def test_run_ops_marks_a_mismatch_as_failure(torch):
    from minicnn.bench import ops

    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4), dtype=np.float32)
    wrong = ops.OpCase("relu", "activation", "tiny", x.shape,
                       lambda F, x: F.relu(x) * (1.01 if F is minicnn.nn.functional else 1),
                       lambda: [(x, True)], dict.fromkeys(ops.PASSES, x.nbytes), "gbps")
    records = ops.measure(wrong, torch, repeat=1, warmup=0)
    assert [r["pass"] for r in records] == list(ops.PASSES)
    assert all("differs from torch" in r["error"] and "minicnn_ms" not in r for r in records)


def test_case_selection():
    from minicnn.bench import ops

    cases = ops.all_cases()
    standard = ops.select(cases)
    assert len([c for c in standard if c.op == "conv2d"]) == 22
    assert {c.op for c in standard} == {"conv2d", "max_pool2d", "avg_pool2d", "batch_norm",
                                        "relu", "linear", "cross_entropy"}
    assert all(c.batch == 128 for c in ops.select(cases, quick=True))
    assert [c.op for c in ops.select(cases, ["GELU"])] == ["gelu"]  # an extra case, by name


def test_run_ops_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    report = bench.run_ops(["relu"], threads=1, repeat=1, warmup=0, quick=True)
    assert [r["pass"] for r in report.records] == ["fwd", "bwd", "f+b"]
    for rec in report.records:
        assert "ratio" not in rec and "torch_ms" not in rec and rec["gbps"] > 0
    assert "torch" not in report.table().splitlines()[0]


def test_run_models_one_model(torch):
    report = bench.run_models(["lenet5"], threads=1, repeat=1, warmup=0,
                              modes=("channels_last",))
    (rec,) = report.records
    assert rec["case"] == "lenet5 1x28x28" and rec["shape"] == [128, 1, 28, 28]
    assert rec["rel_err"] < 1e-4 and rec["ratio"] > 0 and rec["ratio_cl"] > 0
    assert rec["ratio_vs_best"] == max(rec["ratio"], rec["ratio_cl"])
    assert "torch_compile_ms" not in rec and "vs cl" in report.table().splitlines()[0]
    assert rec["minicnn_img_s"] == pytest.approx(128e3 / rec["minicnn_ms"][1])


def test_run_models_says_when_torch_compile_does_not_run(torch, monkeypatch, capsys):
    class Broken(torch.nn.Module):  # what torch.compile gives where it cannot compile
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            raise RuntimeError("InductorError: no working C++ compiler\nmore")

    monkeypatch.setattr(torch, "compile", Broken)
    report = bench.run_models(["lenet5"], threads=1, repeat=1, warmup=0, modes=("compile",),
                              out=sys.stdout)
    (rec,) = report.records
    assert rec["torch_compile_error"] == "RuntimeError: InductorError: no working C++ compiler"
    assert "ratio_compile" not in rec and rec["ratio_vs_best"] == rec["ratio"]
    assert "# torch.compile did not run here: RuntimeError" in capsys.readouterr().out


def test_overhead_cases_time_in_this_process(monkeypatch):
    from minicnn.bench import overhead

    monkeypatch.setattr(overhead, "REPEAT_SECONDS", 0.001)
    got = overhead.time_cases("minicnn", 1, ["add 4x4", "4 ops f+b 4x4"])
    assert sorted(got) == ["4 ops f+b 4x4", "add 4x4"] and all(us > 0 for us in got.values())
    assert minicnn.is_grad_enabled()  # a no-grad case leaves grad mode as it found it


def test_run_overhead_pairs_processes_round_by_round(torch):
    report = bench.run_overhead(["add 4x4"], rounds=1)
    (rec,) = report.records
    assert rec["case"] == "add 4x4" and rec["threads"] == 1 and rec["rounds"] == 1
    mine, theirs = rec["minicnn_us"], rec["torch_us"]
    assert 0 < mine[0] == mine[1] == mine[2] and theirs[0] == theirs[2] > 0
    assert rec["ratio"] == pytest.approx(mine[1] / theirs[1])
    assert "minicnn us" in report.table().splitlines()[0]


def test_run_overhead_errors(monkeypatch):
    from minicnn.bench import overhead

    with pytest.raises(ValueError, match="rounds must be >= 1"):
        bench.run_overhead(rounds=0)
    assert bench.run_overhead(["no such case"]).records == []
    with pytest.raises(RuntimeError, match="the nope worker failed"):
        overhead._in_process("nope", 1, ["add 4x4"])


# ---------------------------------------------------------------- the command line


def bench_cli(capsys, *argv):
    with pytest.raises(SystemExit) as info:
        cli.main(["bench", *map(str, argv)])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_cli_quick_smoke(capsys, tmp_path, torch):
    code, out, err = bench_cli(capsys, "ops", "--quick", "--cases", "5x5", "--threads", "1",
                               "--json", tmp_path / "r.json")
    assert code == 0, err
    assert "sgemm ceiling" in out and "5x5 1->6 28x28" in out and "geomean" in out
    doc = json.load(open(tmp_path / "r.json"))
    assert len(doc["records"]) == 3 and doc["host"]["threads"] == 1
    assert doc["targets"] and doc["summary"]["sgemm_gflops"] > 0


def test_cli_cuda_is_a_clear_error(capsys):
    code, out, err = bench_cli(capsys, "--device", "cuda")
    assert code == 2 and out == ""
    assert "--device cuda" in err and "CUDA backend is not available" in err


def test_cli_cuda_on_the_emulated_gpu(capsys, tmp_path):
    """--device cuda runs minicnn's CUDA path (here on the CPU emulator of the C API): the
    GPU's ceilings, synchronized timings, ops without a CUDA kernel skipped, not failed."""
    from cuda_emulator import installed

    with installed() as emu:
        code, out, err = bench_cli(capsys, "all", "--device", "cuda", "--quick", "--repeat", "1",
                                   "--cases", "5x5 1->6", "layer_norm", "lenet5",
                                   "--json", tmp_path / "r.json")
        assert emu.calls["mc_cuda_synchronize"] > 0 and emu.calls["mc_cuda_conv2d"] > 0
    assert code == 0, err
    assert "# ops: GPU minicnn CPU emulator" in out and "skipped: not on cuda" in out
    doc = json.load(open(tmp_path / "r.json"))
    assert doc["host"]["gpu"].startswith("minicnn CPU emulator")
    conv = [r for r in doc["records"] if r["op"] == "conv2d"]
    assert len(conv) == 3 and all(r["gflops"] > 0 for r in conv)
    assert [r["case"] for r in doc["records"] if r.get("skipped")] == ["last dim 32"] * 3
    (step,) = [r for r in doc["records"] if r["op"] == "train step"]
    assert step["minicnn_img_s"] > 0 and "ratio" not in step  # this torch has no CUDA


def test_cli_overhead_is_cpu_only(capsys):
    code, out, err = bench_cli(capsys, "overhead", "--device", "cuda")
    assert code == 2 and "overhead runs on the CPU only" in err


def test_cli_models_batch(capsys, tmp_path, torch):
    code, out, err = bench_cli(capsys, "models", "--quick", "--batch", "4", "--cases", "lenet5",
                               "--repeat", "1", "--threads", "1", "--json", tmp_path / "r.json")
    assert code == 0, err
    assert "# models:" in out and "batch 4," in out
    (step,) = json.load(open(tmp_path / "r.json"))["records"]
    assert step["shape"] == [4, 1, 28, 28] and step["ratio"] > 0


@pytest.mark.parametrize("argv, message", [
    (("ops", "--batch", "32"), "--batch sets the batch of the training steps"),
    (("models", "--inference", "--batch", "32"), "without --inference"),
    (("models", "--batch", "0"), "expected a positive integer"),
])
def test_cli_batch_goes_with_training_steps(capsys, argv, message):
    code, out, err = bench_cli(capsys, *argv)
    assert code == 2 and out == "" and message in err


def test_cli_cases_that_match_nothing(capsys):
    code, _, err = bench_cli(capsys, "models", "--cases", "no-such-model")
    assert code == 2 and "no models case matches" in err


# ---------------------------------------------------------------- benchmarks/memory.py


def test_memory_benchmark_script(tmp_path, torch):
    import pathlib
    import subprocess

    script = pathlib.Path(__file__).parent.parent / "benchmarks" / "memory.py"
    done = subprocess.run([sys.executable, str(script), "--model", "lenet5", "--input", "1x28x28",
                           "--batch-size", "8", "--steps", "2", "--warmup", "1", "--threads",
                           "1", "--channels-last", "--json", str(tmp_path / "m.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "minicnn/torch time" in done.stdout and "peak ratio" in done.stdout
    doc = json.load(open(tmp_path / "m.json"))
    assert doc["host"]["torch"] == torch.__version__
    assert [(r["framework"], r["threads"]) for r in doc["runs"]] == [
        ("minicnn", 1), ("torch", 1), ("torch_cl", 1)]
    (rec,) = doc["records"]
    assert rec["threads"] == 1 and rec["minicnn_speedup"] == rec["torch_speedup"] == 1.0
    for fw in ("minicnn", "torch", "torch_cl"):
        assert rec[f"{fw}_img_s"] > 0 and rec[f"{fw}_peak_mb"] > 10
    for key in ("time_ratio_torch", "time_ratio_torch_cl", "peak_ratio"):
        assert rec[key] > 0
    assert rec["torch_increase_mb"] > 0 and rec["minicnn_increase_mb"] >= 0
