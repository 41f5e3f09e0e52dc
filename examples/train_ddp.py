"""The batchnorm MLP under DistributedDataParallel with 2 CPU processes (gloo).

Trains it with torch autograd and with symdiff's generated backward code, and compares.

    python examples/train_ddp.py [--device cpu|cuda|auto] [--dtype float64|float32] [--quick] [--out DIR]

the same as `symdiff train ddp`.
"""

import sys

from symdiff.cli import main

if __name__ == "__main__":  # the ddp run spawns processes that import this file
    sys.exit(main(["train", "ddp", *sys.argv[1:]]))
