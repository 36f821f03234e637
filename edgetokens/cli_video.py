"""`edgetokens video`: a video file -> a side-by-side video (the frame with its 2D skeleton | the 3D
skeleton) and optionally the per-frame poses as JSON (`edgetokens.video_pose.VideoPose`)."""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from tqdm import tqdm

from .clitools import check_outputs, positive_int
from .video_frames import FrameReader, check_video, render_video_frame
from .video_pose import VideoPose, VideoPoseResult
from .viz import VideoWriter

VIDEO_SUFFIXES = (".mp4", ".avi")


def check_video_arguments(args: argparse.Namespace) -> dict[str, Path | None]:
    """The input is a readable video and the outputs follow the output policy (never over the input,
    an existing file only with --overwrite, .mp4/.avi and .json): checked before any model loads."""
    if Path(args.out).suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"--out {args.out}: write the video as {' or '.join(VIDEO_SUFFIXES)}")
    if args.json and Path(args.json).suffix.lower() != ".json":
        raise ValueError(f"--json {args.json}: the poses file must end in .json")
    check_video(args.input)
    return check_outputs({"--out": args.out, "--json": args.json}, (args.input, args.model), args.overwrite)


def write_pose_video(source: str | os.PathLike, result: VideoPoseResult, out: Path, progress: bool = False) -> Path:
    """Decode `source` again and write each frame of `result` beside its 3D pose to `out` (into a
    temporary file next to it, renamed over it at the end: a failure never leaves half a video)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(suffix=out.suffix, prefix=f".{out.stem}.", dir=out.parent)
    os.close(handle)
    partial = Path(partial)
    partial.unlink()  # a unique name; OpenCV creates the file (with the usual permissions)
    reader = FrameReader(source, max_frames=result.frame_count)
    frames = tqdm(reader, total=result.frame_count, unit="frame", desc="video", disable=not progress)
    try:
        with VideoWriter(partial, fps=result.fps) as video:
            for i, frame in frames:
                found = bool(result.found[i])
                text = f"frame {i}" if found else f"frame {i}: no person"
                video.write(render_video_frame(frame, result.keypoints_2d[i], result.poses_3d[i] if found else None,
                                               text))
        os.replace(partial, out)
    finally:
        frames.close()
        reader.close()
        partial.unlink(missing_ok=True)
    return out


def cmd_video(args: argparse.Namespace) -> int:
    outputs = check_video_arguments(args)
    video = VideoPose(args.model, device=args.device, detector_device=args.detector_device,
                      precision=args.precision, flip=not args.no_flip)
    progress = not args.no_progress
    result = video.run(args.input, max_frames=args.max_frames, progress=progress)
    write_pose_video(args.input, result, outputs["--out"], progress)
    if outputs["--json"]:
        result.save_json(outputs["--json"])
    rates = result.frames_per_second
    print(f"{result.frame_count} frames, a person in {int(result.found.sum())} ({len(result.segments)} segments); "
          f"detector {result.devices['detector']}, lifter {result.devices['lifter']}: {rates['total']:.1f} frames/s "
          f"(2D {rates['detect_landmarks']:.1f}, 3D {rates['lift']:.1f}) -> {outputs['--out']}"
          + (f", {outputs['--json']}" if outputs["--json"] else ""))
    if not result.found.any():  # the warnings themselves are logged by VideoPose
        print(f"no person found in the video: {outputs['--out']} shows every frame labelled 'no person'")
    return 0


def add_video_command(sub) -> None:
    p = sub.add_parser("video", help="video -> 2D + 3D poses: a side-by-side video and per-frame JSON",
                       description="Find one person's 2D keypoints in each frame (BlazePose, video mode: "
                                   "detect, then track until lost), lift them to 3D, and write the video with "
                                   "the 2D skeleton drawn beside the 3D skeleton. Frames without a person get "
                                   "no pose.")
    p.add_argument("input", help="a video file OpenCV reads (.mp4, .avi, ...)")
    p.add_argument("--out", required=True, help="the side-by-side video, .mp4 or .avi (folder created)")
    p.add_argument("--json", help="also write per-frame found, 2D, 3D and scores here (.json; NaN as null)")
    p.add_argument("--model", default="hot-mixste", help="3D lifter: zoo name, checkpoint directory or bundle")
    p.add_argument("--device", default="cpu", help="cpu, gpu, npu, auto or backend:target (both stages)")
    p.add_argument("--detector-device", help="the BlazePose device, when it differs from --device")
    p.add_argument("--precision", choices=["fp32", "fp16", "int8"], help="the lifter's precision (default fp32)")
    p.add_argument("--no-flip", action="store_true", help="skip the lifter's flip averaging (half the 3D compute)")
    p.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (never the input)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_video)
