"""Linear regression on the diabetes data, full-batch GD and SGD (seed 000 TP2).

Trains it with torch autograd and with symdiff's generated backward code, and compares.

    python examples/train_linear_regression.py [--device cpu|cuda|auto] [--dtype float64|float32] [--quick] [--out DIR]

the same as `symdiff train linear-regression`.
"""

import sys

from symdiff.cli import main

if __name__ == "__main__":  # the ddp run spawns processes that import this file
    sys.exit(main(["train", "linear-regression", *sys.argv[1:]]))
