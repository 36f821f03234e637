"""2D keypoint pipeline maths (BlazePose-style detector + landmarks): anchors, decoding, rotated ROIs,
skeleton mapping. Core layer: numpy and OpenCV only, no runtimes."""
