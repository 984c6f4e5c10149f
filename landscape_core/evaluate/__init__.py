"""The evaluation engine: loss and accuracy at many parameter vectors over a whole dataset.

One concept per module:

- ``common``: devices, losses, ``EvalResult``, sizing constants, reusable scratch buffers;
- ``kernels``: the outputs of a chunk of points on one data batch (vmap, loop, BatchNorm
  recompute, a buffered Linear chain);
- ``shortcut``: the first-layer shortcut for affine families of points (lines, fold-lines,
  Bezier curves, planes), on any module whose first parametrised operation on the input is a
  Linear or Conv2d (found with ``torch.fx``);
- ``engine``: ``Evaluator``, the one driver loop over data batches and chunks of points, and
  ``evaluators_for``;
- ``batched``: ``BatchedLoss``, the differentiable minibatch loss at many points (trainers);
- ``affine_loss``: ``AffineLoss``, the same for affine families of points via the first-layer
  shortcut (center finding, curve fitting, path shortening).

Measurements: ``bench/bench_engine.py``, ``docs/benchmarks.md``.
"""
from .affine_loss import AffineLoss
from .batched import BatchedLoss
from .common import (CPU_CHUNK_FLOATS, CPU_MAX_BATCH, VMAP_MAX_PARAMS_CPU, VMAP_MAX_PARAMS_CPU_1THREAD,
                     EvalResult, Progress, per_sample_loss, resolve_device, resolve_loss)
from .engine import Evaluator, evaluators_for
from .shortcut import FirstLayerSplit, split_first_layer

__all__ = ["AffineLoss", "BatchedLoss", "EvalResult", "Evaluator", "FirstLayerSplit", "Progress", "evaluators_for",
           "per_sample_loss", "resolve_device", "resolve_loss", "split_first_layer",
           "VMAP_MAX_PARAMS_CPU", "VMAP_MAX_PARAMS_CPU_1THREAD", "CPU_MAX_BATCH", "CPU_CHUNK_FLOATS"]
