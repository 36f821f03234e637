PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CMU    ?= ../shared/data/cmu-mocap
POSITIONS ?= ../shared/data/cmu-positions

.PHONY: install demo test weights clean

# One install step shared by every target; re-runs when pyproject.toml or constraints.txt changes.
# pyproject.toml holds ranges; constraints.txt pins the exact tested set (torch==2.13.0, the CPU build
# here: without the pin pip may pick a newer torch and its multi-GB CUDA wheels).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/edgetokens info hot-mixste-243 mixste-243 hot-mixste mixste
	$(VENV)/bin/edgetokens demo --overwrite

test: $(STAMP)
	$(PY) -m pytest -q

# The shipped defaults (edgetokens/weights), exactly as they were made: train, then publish with
# the measured test metrics, then QAT for the INT8 state of hot-mixste (edgetokens/weights/hot-mixste/int8,
# built into INT8 artifacts on first use of precision="int8"): NNCF's calibrated INT8 of the shipped FP32
# weights, no fine-tuning (--epochs 0), so switching precision moves poses by quantization error only.
# The epoch counts are those the shipped runs completed (long runs were continued with --resume).
# Every lifter then continues on all real motion (CMU ASF/AMC + cmu-positions + synthetic) with H36M, COCO
# and BlazePose-style 2D (--input-layout mixed), so it takes what detectors give; hot-mixste then runs 10
# more epochs on BlazePose-style 2D as measured on real BlazePose output (the shipped run's first 7 still had
# the former hips, 0.30 w up), then 7 with BlazePose-style jitter at the measured level (the shipped run was
# started for 8 and stopped after 7; the learning rate decays per epoch, so that is the same run). The other
# three trained on the former BlazePose-style 2D; their cards were re-measured on the current one with
# `training.publish --rescore`.
TRAIN   = $(PY) -m training.train --data mix --data-root $(CMU) --batch-size 32 --lr 1e-3 --lr-decay 0.9 --amp bf16 --threads 1
REAL    = $(PY) -m training.train --data real --data-root $(CMU) --positions-root $(POSITIONS) --input-layout mixed \
	--batch-size 32 --lr 5e-4 --lr-decay 0.9 --amp bf16 --threads 1
PUBLISH = $(PY) -m training.publish --data-root $(CMU)
# Depth: stage 1 (tokenizer), then stage 2 (solver) on 1,000 new scenes per epoch.
DEPTH   = $(PY) -m training.train --data scenes --clips-per-epoch 1000 --batch-size 16 --lr 3e-4 --threads 1
DEPTH_EPOCHS = 50
# ait-depth-lite0: the same stage 2 on the ImageNet-trained EfficientNet-Lite0, on ait-depth's tokenizer.
LITE0_EPOCHS = 12

weights: $(STAMP)
	$(TRAIN) --model hot-mixste --epochs 8 --out runs/hot-mixste
	$(REAL) --model hot-mixste --init runs/hot-mixste/best --epochs 9 --out runs/hot-mixste-real
	$(REAL) --model hot-mixste --init runs/hot-mixste-real/best --lr 2.5e-4 --epochs 10 --out runs/hot-mixste-real2
	$(REAL) --model hot-mixste --init runs/hot-mixste-real2/best --lr 2e-4 --epochs 7 --out runs/hot-mixste-real3
	$(TRAIN) --model mixste --epochs 8 --out runs/mixste
	$(REAL) --model mixste --init runs/mixste/best --epochs 4 --out runs/mixste-real
	$(TRAIN) --model hot-motionbert --epochs 3 --out runs/hot-motionbert
	$(REAL) --model hot-motionbert --init runs/hot-motionbert/best --epochs 4 --out runs/hot-motionbert-real
	$(TRAIN) --model motionbert --epochs 3 --out runs/motionbert
	$(REAL) --model motionbert --init runs/motionbert/best --epochs 3 --out runs/motionbert-real
	$(PUBLISH) --checkpoint runs/hot-mixste-real3/best --name hot-mixste
	$(PUBLISH) --checkpoint runs/hot-motionbert-real/best --name hot-motionbert
	$(PUBLISH) --checkpoint runs/mixste-real/best --name mixste
	$(PUBLISH) --checkpoint runs/motionbert-real/best --name motionbert
	$(PY) -m compression.qat --model hot-mixste --data real --data-root $(CMU) --positions-root $(POSITIONS) \
		--epochs 0 --threads 1 --out runs/bundles/hot-mixste-int8 --overwrite --publish
	$(DEPTH) --model ait-depth-vqvae --epochs 8 --out runs/ait-depth-vqvae
	$(DEPTH) --model ait-depth --tokenizer runs/ait-depth-vqvae/best --epochs $(DEPTH_EPOCHS) --out runs/ait-depth
	$(PY) -m training.publish --checkpoint runs/ait-depth/best --name ait-depth
	$(DEPTH) --model ait-depth-lite0 --tokenizer edgetokens/weights/ait-depth --epochs $(LITE0_EPOCHS) --threads 2 \
		--out runs/ait-depth-lite0
	$(PY) -m training.publish --checkpoint runs/ait-depth-lite0/best --name ait-depth-lite0 \
		--rgbd-real ../shared/data/rgbd-real

clean:
	rm -rf $(VENV) build *.egg-info
