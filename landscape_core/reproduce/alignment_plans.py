"""The modulo-permutation reproductions as data (Git Re-Basin, REPAIR, Entezari et al.).

Settings per mode (``quick``: the embedded digits set, seconds, for tests; ``full``: MNIST,
CPU-sized), the papers' claims and numbers as far as they are published in text, and our
choices where the papers are silent. Computations: ``alignment``.
"""
from __future__ import annotations

from .plans import Plan

_COMMON_FULL = dict(data="mnist", n_train=20000, n_test=10000, train_epochs=10, batch_size=128,
                    lr=1e-3, n_points=21, n_repair=5000)
_COMMON_QUICK = dict(data="digits", n_train=None, n_test=None, train_epochs=15, batch_size=100,
                     lr=1e-2, n_points=5, n_repair=200)
_TRAINING = ("Adam lr {lr:g}, batch {batch_size}, constant lr, {train_epochs} epochs, no weight decay, "
             "PyTorch default init, ReLU; data: the first {n_train} MNIST training images (test: the "
             "{n_test} test images); seeds {seeds}")
_PATHS = ("straight segments with {n_points} points (t = 1/2 included); barriers on the train subset "
          "and the test set, every definition of paths.BARRIER_DEFINITIONS; REPAIR statistics on the "
          "first {n_repair} training images")

REBASIN_MLP = Plan(
    "rebasin-mlp", "Git Re-Basin's MNIST MLP 784-512-512-512-10: barrier before and after matching "
                   "(and REPAIR on top)",
    quick=dict(_COMMON_QUICK, hidden=[16, 16, 16], n_minima=2,
               variants=["none", "weight", "activation", "weight+repair"]),
    full=dict(_COMMON_FULL, hidden=[512, 512, 512], n_minima=3,
              variants=["none", "weight", "activation", "weight+repair", "activation+repair"]),
    paper={"source": "Ainsworth, Hayase, Srinivasa, 'Git Re-Basin: Merging Models modulo Permutation "
                     "Symmetries', ICLR 2023 (arXiv 2209.04836)",
           "claim": "naive interpolation between two MNIST MLPs (3 x 512) has a clear loss barrier; "
                    "after weight matching or activation matching the barrier is (close to) zero",
           "numbers": None,
           "note": "the MNIST MLP curves are published as figures (loss/accuracy along t); we found no "
                   "barrier values in the text"},
    unstated={
        "training": "the paper trains on all of MNIST; " + _TRAINING,
        "pairs": "{n_minima} minima (seeds {seeds}), every pair; weight matching seed 0, random group "
                 "order, to convergence; activation matching on the training subset",
        "paths": _PATHS,
    })

REPAIR_MLP = Plan(
    "repair-mlp", "REPAIR on MNIST MLPs: matching alone leaves a barrier, REPAIR removes most of it "
                  "(by depth)",
    quick=dict(_COMMON_QUICK, width=16, depths=[1, 2], n_minima=2, variants=["none", "weight", "weight+repair"]),
    full=dict(_COMMON_FULL, width=128, depths=[2, 4, 6, 8], n_minima=3,
              variants=["none", "weight", "weight+repair"]),
    paper={"source": "Jordan, Sedghi, Saukh, Entezari, Neyshabur, 'REPAIR: REnormalizing Permuted "
                     "Activations for Interpolation Repair', ICLR 2023 (arXiv 2211.08403)",
           "claim": "neuron alignment alone leaves a barrier caused by variance collapse, which grows "
                    "with depth; REPAIR gives a 60-100% relative barrier reduction across architectures "
                    "(abstract; 90% for ResNet18 on CIFAR-10, 74% for ResNet50 on ImageNet)",
           "numbers": {"relative_barrier_reduction_range": [0.6, 1.0]},
           "note": "the MNIST MLP results are figures; the 60-100% range is the abstract's, over all "
                   "settings"},
    unstated={
        "networks": "depths {depths} hidden layers of width {width} (the paper's MNIST MLP widths and "
                    "depths are not restated here); alignment by weight matching",
        "training": _TRAINING,
        "paths": _PATHS,
        "reduction": "relative reduction = 1 - barrier after REPAIR / barrier after matching "
                     "(endpoint-corrected loss barrier)",
    })

ENTEZARI_WIDTH = Plan(
    "entezari-width", "Entezari et al.'s trend: after alignment the barrier falls with width "
                      "(one-hidden-layer MNIST MLPs)",
    quick=dict(_COMMON_QUICK, widths=[8, 32], depth=1, n_minima=2, variants=["none", "weight"]),
    full=dict(_COMMON_FULL, widths=[4, 8, 16, 64, 256, 1024], depth=1, n_minima=3,
              variants=["none", "weight"]),
    paper={"source": "Entezari, Sedghi, Saukh, Neyshabur, 'The Role of Permutation Invariance in "
                     "Linear Mode Connectivity of Neural Networks', ICLR 2022 (arXiv 2110.06296)",
           "claim": "for one-hidden-layer MLPs, the barrier between SGD solutions falls as the width "
                    "grows once permutations are accounted for; without alignment it first rises, "
                    "then falls",
           "numbers": None,
           "note": "their alignment is simulated annealing (and they use the endpoint-corrected loss "
                   "barrier); we align by weight matching, as the follow-up papers do"},
    unstated={
        "widths": "{widths}, one hidden layer",
        "training": _TRAINING,
        "paths": _PATHS,
    })

ALIGNMENT_PLANS = {p.name: p for p in (REBASIN_MLP, REPAIR_MLP, ENTEZARI_WIDTH)}
