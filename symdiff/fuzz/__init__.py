r"""The soak: random well-shaped scalar expressions, derived, emitted in numpy and torch, run and compared.

``generate(seed)`` writes a random scalar expression in the expression
language over every function of ``ops.FUNCTIONS`` (and the operators ``@ * /
** + - .T``), with random dimensions (``q``, ``n``, ``p``, ... of sizes 2-4)
and random input names (ordinary ones, and names generated code might clash
with: ``f``, ``out``, ``grads``, ``torch``, ...). Inputs that need a domain
get one: positive under ``log`` and ``sqrt``, nonzero under a division, SPD
under ``inv``, ``det`` and ``logdet``; everything else is standard normal, so
kinks (relu, abs, max, ties) are hit with probability 0. Now and then a case
has several outputs (a layer's "h, c"): its gradients are those of sum_i <G_i,
Y_i>, and its generated layer must return each output as the reference does
and give, from the drawn G_i, the gradients of the scalar module.

``run_case`` parses it as ``symdiff check`` does, differentiates it with
respect to every matrix input, emits and loads the numpy and torch modules,
draws the inputs as ``symdiff check --seed`` does, and compares both modules'
outputs and gradients with the reference evaluator (``verify.reference``, the
expression computed with torch's own functions): its value and autograd
gradients (relative 1e-8) and its central finite differences (relative 1e-5).
A case is

* ``pass``: every comparison agrees, or the inputs sit on a kink, tie or step
  (the reference jumps under tiny random moves of them), where finite
  differences do not apply and the gradient is a convention decided by float
  rounding in each library; these are counted;
* ``wrong``: numbers disagree;
* ``refused``: symdiff raised one of its documented errors (a ``SymdiffError``)
  while parsing, deriving or emitting;
* ``error``: anything else: another exception, an error inside generated
  code, a NaN or Inf symdiff produced where the reference is finite, or the
  time budget running out;
* ``skipped``: the reference itself is not finite at the drawn inputs (the
  random expression overflows), so there is nothing to compare with.

``soak(n, seed)`` runs ``n`` cases with a progress bar, prints the counts and
writes every wrong or error case as a ``symdiff check`` one-liner that
reproduces it (same expression, shapes, sizes, domains and input seed).
``symdiff fuzz --n 10000 --seed 0 --out fuzz-failures.txt`` is the command line;
``--second-order`` checks each case's HVP in its first matrix input in which it
is not linear instead
(``second_order.run_hvp_case``: double backward, torch.func and differences of
the gradient).
"""

from .case import Case
from .generator import functions_used, generate
from .second_order import run_hvp_case
from .verdicts import Outcome, Soak, run_case, soak

__all__ = ["Case", "Outcome", "Soak", "functions_used", "generate", "run_case", "run_hvp_case", "soak"]
