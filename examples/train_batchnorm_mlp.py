"""An MLP with the generated batchnorm against nn.BatchNorm1d.

Trains it with torch autograd and with symdiff's generated backward code, and compares.

    python examples/train_batchnorm_mlp.py [--device cpu|cuda|auto] [--dtype float64|float32] [--quick] [--out DIR]

the same as `symdiff train batchnorm-mlp`.
"""

import sys

from symdiff.cli import main

if __name__ == "__main__":  # the ddp run spawns processes that import this file
    sys.exit(main(["train", "batchnorm-mlp", *sys.argv[1:]]))
