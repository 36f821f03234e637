"""Hostile command lines: every user error is one `prog: error: ...` line and exit code 2 (a bug keeps its
traceback), no output is written over an input or over an existing file without --overwrite, every
write is checked, and every numeric argument is validated before any work (issue 21)."""
import errno
import hashlib
import logging
import warnings

import cv2
import numpy as np
import pytest
import torch

from compression import bundle as bundle_cli
from compression import ptq, qat
from compression.export import export_onnx
from edgetokens import benchmark, clitools, create_model
from edgetokens.checkpoint import save_checkpoint
from edgetokens.cli import main as edgetokens_main
from edgetokens.clitools import OutputError, UserError, check_output, run_cli, write_image
from runtimes import DeviceUnavailableError, open_session
from training import train
from training.config import RunConfig

TINY = dict(frames=27, embed_dim=32, mlp_hidden=64, depth=2, heads=4, token_num=9, layer_index=1)


@pytest.fixture(autouse=True)
def isolated_cache(cache, monkeypatch):
    monkeypatch.setenv("EDGETOKENS_CACHE", str(cache))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hostile") / "tiny"
    save_checkpoint(create_model("hot-mixste", **TINY), path)
    return path


def fingerprint(path) -> dict:
    """Every file under `path` (or the file itself) -> its sha256: 'untouched' means equal fingerprints."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def run_main(main, argv, capsys) -> tuple[int, str]:
    """Exit code and stderr of `main(argv)`, whether it returns or exits (argparse errors exit)."""
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err


def assert_one_error_line(code: int, err: str, prog: str, *fragments: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err, err
    # argparse names a subcommand too (`edgetokens info: error: ...`)
    lines = [line for line in err.splitlines() if line.startswith(prog) and ": error: " in line]
    assert len(lines) == 1, err
    assert not [line for line in err.splitlines() if line.strip() and not line.startswith(("usage:", " ", prog))], err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def keypoint_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "kp.npy"
    np.save(path, rng.uniform(350, 650, (30, 17, 2)))
    return path


# --- run_cli: user errors vs bugs ---------------------------------------------------------------------

@pytest.mark.parametrize("error", [
    DeviceUnavailableError("npu is not available here. Available here: onnxruntime:cpu", ["onnxruntime:cpu"]),
    PermissionError(errno.EACCES, "Permission denied", "/cache/bundles"),
    NotADirectoryError(errno.ENOTDIR, "Not a directory", "/cache/bundles"),
    IsADirectoryError(errno.EISDIR, "Is a directory", "out.json"),
    OSError(errno.EROFS, "Read-only file system", "/cache"),
    OSError(errno.ENOSPC, "No space left on device"),
    OutputError("--colormap c.xyz: OpenCV could not write it"),
    FileExistsError("out.json already exists; pass --overwrite"),
    ValueError("a message\nover two lines"),
])
def test_user_errors_are_one_line_and_exit_2(error, capsys):
    def command():
        raise error

    assert run_cli(command, "edgetokens") == 2
    assert_one_error_line(2, capsys.readouterr().err, "edgetokens")


@pytest.mark.parametrize("bug", [KeyError("x"), TypeError("bad operand"), OSError("no errno"), RuntimeError("bug")])
def test_bugs_keep_their_traceback(bug):
    def command():
        raise bug

    with pytest.raises(type(bug)):
        run_cli(command, "edgetokens")


def test_device_unavailable_is_still_a_runtime_error():
    err = DeviceUnavailableError("x", ["cpu"])
    assert isinstance(err, RuntimeError) and isinstance(err, UserError) and err.available == ["cpu"]


# --- one output policy ----------------------------------------------------------------------------------

def test_predict_refuses_to_write_over_its_input(tmp_path, tiny_checkpoint, capsys):
    kp = keypoint_file(tmp_path)
    before = fingerprint(kp)
    for out in (kp, tmp_path / "sub" / ".." / "kp.npy"):
        code, err = run_main(edgetokens_main, ["predict", str(tiny_checkpoint), str(kp), "--image-size", "1000",
                                               "1000", "--out", str(out), "--overwrite"], capsys)
        assert_one_error_line(code, err, "edgetokens", "would write over the input")
    (tmp_path / "link.npy").symlink_to(kp)
    code, err = run_main(edgetokens_main, ["predict", str(tiny_checkpoint), str(kp), "--out",
                                           str(tmp_path / "link.npy"), "--overwrite"], capsys)
    assert_one_error_line(code, err, "edgetokens", "would write over the input")
    code, err = run_main(edgetokens_main, ["predict", str(tiny_checkpoint), str(kp), "--out",
                                           str(tiny_checkpoint / "config.json"), "--overwrite"], capsys)
    assert_one_error_line(code, err, "edgetokens", "would write over the input")
    assert fingerprint(kp) == before


def test_predict_refuses_an_existing_output_unless_overwrite(tmp_path, tiny_checkpoint, capsys):
    kp = keypoint_file(tmp_path)
    out = tmp_path / "poses.json"
    out.write_text("my earlier results")
    argv = ["predict", str(tiny_checkpoint), str(kp), "--image-size", "1000", "1000", "--out", str(out)]
    code, err = run_main(edgetokens_main, argv, capsys)
    assert_one_error_line(code, err, "edgetokens", "already exists", "--overwrite")
    assert out.read_text() == "my earlier results"
    assert run_main(edgetokens_main, [*argv, "--overwrite"], capsys)[0] == 0
    assert "poses_3d" in out.read_text()


def test_predict_outputs_that_cannot_be_written(tmp_path, tiny_checkpoint, capsys):
    kp = keypoint_file(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = [(["--out", str(tmp_path / "folder")], "is a directory"),
             (["--out", str(tmp_path / "afile" / "poses.json")], "is a file, not a directory"),
             (["--out", str(tmp_path / "poses.txt")], "write 3D poses as .json or .npz"),
             (["--colormap", str(tmp_path / "c.xyz")], "OpenCV cannot write .xyz"),
             (["--out", str(tmp_path / "same.json"), "--colormap", str(tmp_path / "same.json")], "the same file")]
    for extra, fragment in cases:
        code, err = run_main(edgetokens_main, ["predict", str(tiny_checkpoint), str(kp), "--image-size", "1000",
                                               "1000", *extra], capsys)
        assert_one_error_line(code, err, "edgetokens", fragment)
    assert not (tmp_path / "poses.txt").exists() and (tmp_path / "afile").read_text() == "x"


def test_predict_input_missing_is_one_line(tmp_path, tiny_checkpoint, capsys):
    code, err = run_main(edgetokens_main, ["predict", str(tiny_checkpoint), str(tmp_path / "nothing.npy")], capsys)
    assert_one_error_line(code, err, "edgetokens", "not found")


def test_export_never_over_its_checkpoint(tmp_path, tiny_checkpoint, capsys):
    before = fingerprint(tiny_checkpoint)
    code, err = run_main(edgetokens_main, ["export", str(tiny_checkpoint), "--out", str(tiny_checkpoint),
                                           "--overwrite"], capsys)
    assert_one_error_line(code, err, "edgetokens", "would write over the input")
    code, err = run_main(edgetokens_main, ["export", str(tiny_checkpoint), "--out", str(tiny_checkpoint.parent),
                                           "--overwrite"], capsys)  # a folder holding the input
    assert_one_error_line(code, err, "edgetokens", "would write over the input")
    (tmp_path / "notes.txt").write_text("mine")
    code, err = run_main(edgetokens_main, ["export", str(tiny_checkpoint), "--out", str(tmp_path / "notes.txt"),
                                           "--overwrite"], capsys)
    assert_one_error_line(code, err, "edgetokens", "not a directory")
    assert fingerprint(tiny_checkpoint) == before and (tmp_path / "notes.txt").read_text() == "mine"


def test_benchmark_reports_follow_the_policy_before_timing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(benchmark, "run_benchmark", lambda args: pytest.fail("timed before checking outputs"))
    existing = tmp_path / "bench.json"
    existing.write_text("{}")
    eval_data = tmp_path / "eval.npz"
    np.savez(eval_data, inputs_0=np.zeros((1, 17, 2)))
    before = fingerprint(eval_data)
    cases = [(["--json", str(existing)], "already exists"),
             (["--csv", str(eval_data), "--eval-data", str(eval_data)], "would write over the input"),
             (["--json", str(tmp_path / "a"), "--md", str(tmp_path / "a")], "the same file"),
             (["--plot", str(tmp_path / "plot.xyz")], "OpenCV cannot write .xyz"),
             (["--weights", "a=,b"], "NAME=CHECKPOINT_DIR")]
    for extra, fragment in cases:
        code, err = run_main(edgetokens_main, ["benchmark", *extra], capsys)
        assert_one_error_line(code, err, "edgetokens benchmark", fragment)
    assert existing.read_text() == "{}" and fingerprint(eval_data) == before


def test_demo_out_must_be_a_folder_and_keeps_earlier_files(tmp_path, capsys):
    (tmp_path / "media").write_text("not a folder")
    code, err = run_main(edgetokens_main, ["demo", "--out", str(tmp_path / "media")], capsys)
    assert_one_error_line(code, err, "edgetokens", "not a directory")
    assert (tmp_path / "media").read_text() == "not a folder"
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "hot-mixste_pose.png").write_bytes(b"my picture")
    code, err = run_main(edgetokens_main, ["demo", "--out", str(earlier)], capsys)
    assert_one_error_line(code, err, "edgetokens", "already exists", "--overwrite")
    assert (earlier / "hot-mixste_pose.png").read_bytes() == b"my picture"


def test_training_and_compression_never_write_over_their_input(tmp_path, tiny_checkpoint, capsys):
    before = fingerprint(tiny_checkpoint)
    code, err = run_main(qat.main, ["--checkpoint", str(tiny_checkpoint), "--out", str(tiny_checkpoint),
                                    "--overwrite"], capsys)
    assert_one_error_line(code, err, "compression.qat", "would write over the input")
    code, err = run_main(ptq.main, ["--bundle", str(tiny_checkpoint), "--out", str(tiny_checkpoint),
                                    "--overwrite"], capsys)
    assert_one_error_line(code, err, "compression.ptq", "would write over the input")
    code, err = run_main(train.main, ["--model", "hot-mixste", "--init", str(tiny_checkpoint), "--out",
                                      str(tiny_checkpoint), "--overwrite"], capsys)
    assert_one_error_line(code, err, "training.train", "would write over the input")
    (tmp_path / "run").write_text("a file")
    code, err = run_main(train.main, ["--model", "hot-mixste", "--out", str(tmp_path / "run")], capsys)
    assert_one_error_line(code, err, "training.train", "not a directory")
    assert fingerprint(tiny_checkpoint) == before and (tmp_path / "run").read_text() == "a file"


def test_check_output_unit(tmp_path):
    (tmp_path / "x.json").write_text("1")
    with pytest.raises(FileExistsError, match="--overwrite"):
        check_output(tmp_path / "x.json")
    assert check_output(tmp_path / "x.json", overwrite=True) == tmp_path / "x.json"
    with pytest.raises(ValueError, match="over the input"):
        check_output(tmp_path / "x.json", inputs=[tmp_path / "." / "x.json"], overwrite=True)
    assert check_output(tmp_path / "new" / "y.json", inputs=[None, tmp_path / "x.json"]) == tmp_path / "new" / "y.json"


# --- every write checked ---------------------------------------------------------------------------------

def test_write_image_checks_what_opencv_ignores(tmp_path, monkeypatch):
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(OutputError, match="does not exist"):
        write_image(tmp_path / "missing" / "c.png", image)
    with pytest.raises(ValueError, match="OpenCV cannot write .xyz"):
        write_image(tmp_path / "c.xyz", image)
    monkeypatch.setattr(cv2, "imwrite", lambda *a: False)  # a full disk, a vanished folder
    with pytest.raises(OutputError, match="could not write"):
        write_image(tmp_path / "c.png", image)
    assert not (tmp_path / "c.png").exists()


# --- numbers validated before any work -----------------------------------------------------------------

NUMERIC = [
    (edgetokens_main, "edgetokens", ["info", "hot-mixste", "--threads", "0"], "--threads"),
    (edgetokens_main, "edgetokens", ["info", "hot-mixste", "--latency", "-1"], "--latency"),
    (edgetokens_main, "edgetokens", ["demo", "--repeats", "0"], "--repeats"),
    (edgetokens_main, "edgetokens", ["demo", "--stream-frames", "-5"], "--stream-frames"),
    (edgetokens_main, "edgetokens", ["predict", "m", "kp.npy", "--image-size", "0", "100"], "--image-size"),
    (edgetokens_main, "edgetokens", ["export", "hot-mixste", "--out", "b", "--batch", "0"], "--batch"),
    (edgetokens_main, "edgetokens benchmark", ["benchmark", "--repeats", "0"], "--repeats"),
    (edgetokens_main, "edgetokens benchmark", ["benchmark", "--warmup", "-1"], "--warmup"),
    (edgetokens_main, "edgetokens benchmark", ["benchmark", "--threads", "-1"], "--threads"),
    (edgetokens_main, "edgetokens benchmark", ["benchmark", "--stream", "0"], "--stream"),
    (edgetokens_main, "edgetokens benchmark", ["benchmark", "--eval-frames", "0"], "--eval-frames"),
    (bundle_cli.main, "python -m compression.bundle", ["hot-mixste", "--out", "b", "--batch", "-2"], "--batch"),
    (train.main, "python -m training.train", ["--model", "m", "--out", "o", "--epochs", "0"], "--epochs"),
    (train.main, "python -m training.train", ["--model", "m", "--out", "o", "--batch-size", "0"], "--batch-size"),
    (train.main, "python -m training.train", ["--model", "m", "--out", "o", "--threads", "-1"], "--threads"),
    (train.main, "python -m training.train", ["--model", "m", "--out", "o", "--lr", "-1"], "--lr"),
    (train.main, "python -m training.train", ["--model", "m", "--out", "o", "--lr", "nan"], "--lr"),
    (train.main, "python -m training.train", ["--model", "m", "--out", "o", "--clips-per-epoch", "0"],
     "--clips-per-epoch"),
    (train.main, "python -m training.train", ["--model", "m", "--out", "o", "--eval-sequences", "0"],
     "--eval-sequences"),
    (train.main, "python -m training.train", ["--model", "m", "--out", "o", "--mask-ratio", "1.5"], "--mask-ratio"),
    (qat.main, "python -m compression.qat", ["--model", "m", "--out", "o", "--epochs", "-1"], "--epochs"),
    (qat.main, "python -m compression.qat", ["--model", "m", "--out", "o", "--batch-size", "0"], "--batch-size"),
    (qat.main, "python -m compression.qat", ["--model", "m", "--out", "o", "--calibration-clips", "0"],
     "--calibration-clips"),
    (ptq.main, "python -m compression.ptq", ["--bundle", "b", "--out", "o", "--calibration-clips", "0"],
     "--calibration-clips"),
    (ptq.main, "python -m compression.ptq", ["--bundle", "b", "--out", "o", "--eval-sequences", "-3"],
     "--eval-sequences"),
]


@pytest.mark.parametrize("main, prog, argv, flag", NUMERIC, ids=[" ".join(c[2]) for c in NUMERIC])
def test_numeric_arguments_are_validated(main, prog, argv, flag, capsys):
    code, err = run_main(main, argv, capsys)
    assert_one_error_line(code, err, prog, flag)


def test_api_numbers_are_validated(tiny_checkpoint, tmp_path):
    model = create_model("hot-mixste", **TINY)
    with pytest.raises(ValueError, match="batch"):
        export_onnx(model, tmp_path / "m.onnx", batch=0)  # was SIGFPE inside the ONNX exporter
    assert not (tmp_path / "m.onnx").exists()
    for threads in (-1, 0, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            open_session(tmp_path / "whatever.onnx", threads=threads)
    from edgetokens import Predictor

    with pytest.raises(ValueError, match="threads"):
        Predictor(tiny_checkpoint, threads=-1)
    for field, value in (("epochs", -1), ("batch_size", 0), ("threads", 0), ("lr", 0.0), ("lr", float("inf")),
                         ("ar_sampling", 2.0)):
        with pytest.raises(ValueError, match=field):
            RunConfig(model="hot-mixste", out="o", **{field: value})
    assert clitools.check_int("n", np.int64(3)) == 3


# --- tracebacks that were -------------------------------------------------------------------------------

def test_unavailable_device_is_one_line(tmp_path, tiny_checkpoint, capsys):
    kp = keypoint_file(tmp_path)
    code, err = run_main(edgetokens_main, ["predict", str(tiny_checkpoint), str(kp), "--image-size", "1000", "1000",
                                           "--device", "npu", "--out", str(tmp_path / "p.json")], capsys)
    assert_one_error_line(code, err, "edgetokens", "npu")
    assert not (tmp_path / "p.json").exists()


def test_cache_that_is_a_file_is_one_line(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    kp = keypoint_file(tmp_path)
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("EDGETOKENS_CACHE", str(tmp_path / "cache"))
    code, err = run_main(edgetokens_main, ["predict", str(tiny_checkpoint), str(kp), "--image-size", "1000", "1000",
                                           "--out", str(tmp_path / "p.json")], capsys)
    assert_one_error_line(code, err, "edgetokens")
    assert (tmp_path / "cache").read_text() == "not a folder"


def test_nncf_refusing_a_qat_state_is_a_user_error(tiny_checkpoint, tmp_path, capsys):
    state = tmp_path / "state"
    save_checkpoint(create_model("hot-mixste", **TINY), state)
    for config in ('{"compression_state": "x"}', "[1, 2]", "{}"):
        (state / "nncf_config.json").write_text(config)
        with pytest.raises(ValueError, match="NNCF could not rebuild"):
            qat.load_qat_checkpoint(state)
        assert run_cli(lambda: qat.load_qat_checkpoint(state), "compression.qat") == 2
        assert_one_error_line(2, capsys.readouterr().err, "compression.qat", "nncf_config.json")


def test_fallback_warns_once(tiny_checkpoint, cache, caplog):
    from edgetokens import Predictor

    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        predictor = Predictor(tiny_checkpoint, device="npu", fallback="cpu", cache_dir=cache)
    fallback = [w for w in caught if "Falling back" in str(w.message)]
    logged = [r for r in caplog.records if "Falling back" in r.getMessage()]
    assert len(fallback) + len(logged) == 1 and predictor.device
