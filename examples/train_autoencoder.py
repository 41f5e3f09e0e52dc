"""The tied-weight autoencoder of seed 000 TP3 on digits, with a 3-D plot of its codes.

Trains it with torch autograd and with symdiff's generated backward code, and compares.

    python examples/train_autoencoder.py [--device cpu|cuda|auto] [--dtype float64|float32] [--quick] [--out DIR]

the same as `symdiff train autoencoder`.
"""

import sys

from symdiff.cli import main

if __name__ == "__main__":  # the ddp run spawns processes that import this file
    sys.exit(main(["train", "autoencoder", *sys.argv[1:]]))
