"""`edgetokens video` (edgetokens.cli_video): the side-by-side video and JSON it writes, the output
policy checked before any model loads, and bad inputs as one `error:` line with exit code 2."""
import argparse
import functools
import json

import cv2
import numpy as np
import pytest

from edgetokens import cli_video, video_pose
from edgetokens.blazepose import BlazePose
from edgetokens.cli_video import add_video_command
from edgetokens.clitools import run_cli

# frames of one-by-one-person-detection.mp4 (see tests/test_video_pose.py): two people, an empty room
TWO_PEOPLE, EMPTY = (192, 210), (460, 466)


def clip_of(source, start, stop, path):
    """Frames start:stop of `source` as a lossless (FFV1) video at `path`."""
    capture = cv2.VideoCapture(str(source))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = [capture.read()[1] for _ in range(stop - start)]
    capture.release()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def video_cli(*argv: str) -> int:
    """`edgetokens video ARGV` as `edgetokens.cli.main` runs it (parser, then run_cli)."""
    parser = argparse.ArgumentParser(prog="edgetokens")
    add_video_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["video", *argv])
    return run_cli(lambda: args.func(args), "edgetokens")


@pytest.fixture(scope="module")
def clips(shared_dir, tmp_path_factory):
    source = shared_dir / "data" / "videos" / "one-by-one-person-detection.mp4"
    folder = tmp_path_factory.mktemp("cli-clips")
    return {"two": clip_of(source, *TWO_PEOPLE, folder / "two.avi"), "empty": clip_of(source, *EMPTY, folder / "empty.avi")}


def decoded(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_writes_the_side_by_side_video_and_the_json(clips, tmp_path, capsys):
    out, poses = tmp_path / "out" / "two.mp4", tmp_path / "two.json"
    out.parent.mkdir()
    out.write_bytes(b"an older result")
    assert video_cli(str(clips["two"]), "--out", str(out), "--json", str(poses), "--max-frames", "14",
                     "--overwrite", "--no-progress") == 0
    captured = capsys.readouterr()
    assert "14 frames, a person in" in captured.out and str(out) in captured.out
    assert "2D poses" not in captured.err  # --no-progress: no bars
    frames = decoded(out)
    assert len(frames) == 14 and frames[0].shape == (432, 768 + 432, 3)
    content = json.loads(poses.read_text())
    found = [entry["found"] for entry in content["per_frame"]]
    assert len(found) == 14 and any(found) and not all(found)
    # the 3D panel: a skeleton where a person was found, an empty "no person" panel elsewhere
    panels = [frame[40:, 768:].astype(int) for frame in frames]
    busy = [int((np.abs(p - np.median(p)) > 60).sum()) for p in panels]
    assert all(b > 100 for b, f in zip(busy, found) if f) and all(b < 50 for b, f in zip(busy, found) if not f)
    assert not list(out.parent.glob(".two.*"))  # the temporary file is gone


def test_a_video_without_anyone_still_writes_its_video_and_says_so(clips, tmp_path, capsys):
    out = tmp_path / "empty.avi"
    assert video_cli(str(clips["empty"]), "--out", str(out), "--no-flip") == 0
    captured = capsys.readouterr()
    assert "a person in 0 (0 segments)" in captured.out and "no person found in the video" in captured.out
    assert len(decoded(out)) == 6


@pytest.fixture
def no_models(monkeypatch):
    """Fail the test if a command loads a model: these errors must come before anything loads."""
    def loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(cli_video, "VideoPose", loading)


@pytest.mark.parametrize("case, message", [
    ("same", "would write over the input"),
    ("exists", "already exists; pass --overwrite"),
    ("txt", "write the video as .mp4 or .avi"),
    ("csv", "the poses file must end in .json"),
    ("missing", "missing.mp4 not found"),
    ("empty", "is empty (0 bytes)"),
    ("text", "text.mp4 is not a video OpenCV can read"),
])
def test_bad_arguments_are_one_error_line_before_anything_loads(clips, tmp_path, capsys, no_models, case, message):
    video, out, extra = str(clips["two"]), tmp_path / "out.mp4", []
    if case == "same":
        out = clips["two"]
        extra = ["--overwrite"]
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "txt":
        out = tmp_path / "out.txt"
    elif case == "csv":
        extra = ["--json", str(tmp_path / "poses.csv")]
    elif case == "missing":
        video = str(tmp_path / "missing.mp4")
    elif case == "empty":
        video = str(tmp_path / "empty.mp4")
        (tmp_path / "empty.mp4").write_bytes(b"")
    elif case == "text":
        video = str(tmp_path / "text.mp4")
        (tmp_path / "text.mp4").write_text("not a video\n" * 100)
    before = clips["two"].stat().st_size
    assert video_cli(video, "--out", str(out), *extra) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgetokens: error: ") and message in lines[0]
    assert clips["two"].stat().st_size == before
    if case == "exists":
        assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_damaged_detector_model_is_one_error_line_naming_the_file(clips, tmp_path, capsys, monkeypatch, damage):
    models = tmp_path / "blazepose"
    models.mkdir()
    if damage == "corrupt":
        for name in ("pose_detection.tflite", "pose_landmark_full.tflite"):
            (models / name).write_bytes(b"not a model" * 20)
    monkeypatch.setattr(video_pose, "BlazePose", functools.partial(BlazePose, model_dir=models))
    assert video_cli(str(clips["two"]), "--out", str(tmp_path / "out.mp4"), "--no-progress") == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(lines) == 1 and lines[0].startswith("edgetokens: error: ")
    assert f"{models}/pose_" in lines[0] and ".tflite" in lines[0]  # names the file
    assert not (tmp_path / "out.mp4").exists()
