"""Run by tests/test_training.py under torchrun: train a few steps, then save this rank's weights."""
import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file

from training.train import build_parser, train

args = build_parser().parse_args(sys.argv[1:])
model = train(args)["model"]
state = {k: v.contiguous() for k, v in model.state_dict().items()}
save_file(state, str(Path(args.out) / f"rank{dist.get_rank()}.safetensors"))
dist.destroy_process_group()
