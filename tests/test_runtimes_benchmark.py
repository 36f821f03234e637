"""`python -m runtimes.benchmark` end to end on a small model: statuses, timings, reports, plot."""
import csv
import json
import warnings

import numpy as np
import pytest

from edgetokens import benchmark


def test_benchmark_reports_every_combination(hot_checkpoint, cache, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGETOKENS_CACHE", str(cache))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", inputs_0=rng.normal(0, 0.3, (30, 17, 2)).astype(np.float32),
             targets_0=rng.normal(0, 0.2, (30, 17, 3)).astype(np.float32))
    out = {k: tmp_path / f"bench.{k}" for k in ("json", "csv", "md", "png")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = benchmark.main([
            "--models", "hot-mixste", "--weights", f"hot-mixste={hot_checkpoint}",
            "--devices", "cpu,npu", "--precisions", "fp32,int8", "--repeats", "2", "--warmup", "1", "--stream", "2",
            "--threads", "2", "--eval-data", str(tmp_path / "eval.npz"), "--cache-dir", str(cache),
            "--json", str(out["json"]), "--csv", str(out["csv"]), "--md", str(out["md"]), "--plot", str(out["png"])])
    assert code == 0
    rows = {(r["device"], r["precision"]): r for r in json.loads(out["json"].read_text())["rows"]}
    assert set(rows) == {("eager", "fp32"), ("cpu", "fp32"), ("cpu", "int8"), ("npu", "fp32"), ("npu", "int8")}
    eager, chosen = rows["eager", "fp32"], rows["cpu", "fp32"]
    assert eager["status"] == "ok" and eager["resolved"] == "torch:cpu" and eager["speedup"] == pytest.approx(1)
    assert chosen["status"] == "ok" and chosen["resolved"] in ("onnxruntime:cpu", "openvino:CPU")
    for row in (eager, chosen):
        assert row["p50_ms"] > 0 and row["p90_ms"] >= row["p50_ms"] and row["load_ms"] > 0 and row["first_ms"] > 0
        assert row["fps"] == pytest.approx(81000 / row["p50_ms"])
        assert row["stream_fps"] > 0 and row["stream_stride"] == 2
        assert row["gflops"] > 0 and row["metric"] == "mpjpe_mm" and row["accuracy"] > 0
        assert row["accuracy_source"] == "eval eval.npz"
    assert rows["cpu", "int8"]["status"].startswith("unavailable: ") and "fp32/onnx" in rows["cpu", "int8"]["status"]
    assert rows["npu", "fp32"]["status"].startswith("unavailable: device 'npu' is not available")
    with open(out["csv"]) as f:
        assert len(list(csv.DictReader(f))) == 5
    assert "| hot-mixste | cpu | fp32 |" in out["md"].read_text()
    assert out["png"].stat().st_size > 1000


def test_recorded_accuracy_only_for_the_precision_it_was_measured_at():
    from types import SimpleNamespace

    from edgetokens.resolve import ModelInfo

    info = ModelInfo("hot-mixste", None, metrics={"mpjpe_mm": 79.7})  # a checkpoint's torch fp32 number
    row = {p: SimpleNamespace(manifest=None, session=SimpleNamespace(backend="openvino"), info=info, precision=p)
           for p in ("fp32", "fp16")}
    assert benchmark.recorded_accuracy(row["fp32"], "mpjpe_mm") == (79.7, "recorded (training (torch fp32))")
    assert benchmark.recorded_accuracy(row["fp16"], "mpjpe_mm") is None  # bf16/fp16 must be measured, not borrowed


def test_tables_name_the_cpu_and_its_instruction_sets():
    xeon = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n\n" \
           "processor\t: 1\nmodel name\t: other\n"
    assert benchmark.cpu_description(xeon) == "Intel(R) Xeon(R) Platinum (avx2 avx512f amx_bf16)"
    assert benchmark.cpu_description("model name : Old\nflags : fpu sse2\n") == "Old (no AVX2)"
    assert benchmark.cpu_description() in benchmark.machine_summary()


def test_a_model_serving_several_tasks_names_one_after_a_colon():
    from edgetokens.benchmark import model_and_task

    assert model_and_task("ait:instances") == ("ait", "instances")
    assert model_and_task("ait:depth") == ("ait", "depth")
    assert model_and_task("hot-mixste") == ("hot-mixste", None)
    assert model_and_task("bundles/x:y") == ("bundles/x:y", None)  # not a task: a path with a colon
