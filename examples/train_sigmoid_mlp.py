"""The L = 6 sigmoid MLP of seed 004, reproducing the seed's printed gradient.

Trains it with torch autograd and with symdiff's generated backward code, and compares.

    python examples/train_sigmoid_mlp.py [--device cpu|cuda|auto] [--dtype float64|float32] [--quick] [--out DIR]

the same as `symdiff train sigmoid-mlp`.
"""

import sys

from symdiff.cli import main

if __name__ == "__main__":  # the ddp run spawns processes that import this file
    sys.exit(main(["train", "sigmoid-mlp", *sys.argv[1:]]))
