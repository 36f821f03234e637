"""Files shipped inside the package (`edgetokens/assets`) and the credits they need."""
from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
CMU_DEMO_CLIP = ASSETS_DIR / "cmu_demo_clip.npz"  # made by `python -m training.demo_clip`
RGBD_SAMPLE = ASSETS_DIR / "rgbd_sample"  # one real RGB-D frame (sample_rgb.png, sample_depth.png)
CMU_CREDIT = ("The data used in this project was obtained from mocap.cs.cmu.edu. "
              "The database was created with funding from NSF EIA-0196217.")
WALKING_CLIP = ASSETS_DIR / "walking_clip.mp4"  # made by `python -m training.demo_video_clip`
WALKING_CREDIT = ('"Sample videos" by Intel IoT DevKit (github.com/intel-iot-devkit/sample-videos, '
                  "one-by-one-person-detection.mp4), CC BY 4.0; a 12-second excerpt")
