"""The paper's experiments as data: for each, its settings in quick and full mode and its
center recipes, each named by a recipe of ``recipes.CENTER_RECIPES`` with its changes visible.

Nothing here computes; ``runner.run`` turns a plan and a mode into a result. The unstated
choices are written as text templates filled from the settings, so the prose can never
disagree with the numbers used.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import spec_dict
from ..recipes import describe, recipe_spec
from ..refs import N_POINTS

TABLE_SETTINGS = ("mnist-fnn", "mnist-vgg16", "cifar-vgg16", "cifar-resnet18", "cifar-resnet34")
TABLE1_COLUMN = {"mnist-fnn": "MNIST FNN", "mnist-vgg16": "MNIST VGG16", "cifar-vgg16": "CIFAR-10 VGG16",
                 "cifar-resnet18": "CIFAR-10 ResNet34", "cifar-resnet34": "CIFAR-10 ResNet34"}
TABLE2_COLUMN = {"mnist-fnn": "FNN+MNIST", "mnist-vgg16": "VGG16+MNIST", "cifar-vgg16": "VGG16+CIFAR10",
                 "cifar-resnet18": "ResNet18+CIFAR10", "cifar-resnet34": "ResNet18+CIFAR10"}
# (table, setting) whose preset is not the architecture of the paper's column
COLUMN_NOTES = {
    ("table1", "cifar-resnet18"): "the paper's Table 1 column is a ResNet34 (preset cifar-resnet34); "
                                  "this is our ResNet18 preset beside it",
    ("table2", "cifar-resnet34"): "the paper's Table 2 column is a ResNet18 (preset cifar-resnet18); "
                                  "this is our ResNet34 preset beside it",
}
BN_SETTINGS = ("mnist-vgg16", "cifar-vgg16", "cifar-resnet18", "cifar-resnet34")
# --quick: what each column's experiment changes (the full recipes are the presets, untouched).
# The BatchNorm settings keep their architecture at a width multiplier of 4 (VGG16: 4..32
# channels), on 64 training images, Adam lr 2e-3 in batches of 16 for 12 epochs (48 steps:
# enough for the running statistics to follow the weights): seconds per minimum on a CPU, and
# still minima with BatchNorm statistics, a cache round trip, center finding and a star
# report with the statistics recomputed at every point.
QUICK_CHANGES = {
    "mnist-fnn": {"data.n_train": 500, "data.n_test": 200, "train.epochs": 1,
                  "train.target_train_acc": None},
    **{s: {"data.n_train": 64, "data.n_test": 32, "model.width": 4, "train.lr": 2e-3,
           "train.batch_size": 16, "train.epochs": 12, "train.target_train_acc": None}
       for s in BN_SETTINGS},
}
# --full (Table 1, mnist-fnn only): the column at the paper's scale: all 60,000 MNIST training
# images, the preset's 20 Adam epochs per minimum (the paper does not state its epochs) without
# the early stop, the paper's center recipe untouched (200 epochs) and our fast recipe beside it.
# About 40 minutes of one CPU core: run it in the background; minima and centers are cached per
# key, so it resumes.
FULL_CHANGES = {
    "mnist-fnn": {"data.n_train": None, "train.epochs": 20, "train.target_train_acc": None},
}
FULL_LABEL = ("FULL: all 60,000 MNIST training images, 20 Adam epochs per minimum (paper: epochs not "
              "stated), the paper's center recipe at its 200 epochs")


@dataclass(frozen=True)
class CenterChoice:
    """A center recipe of ``recipes.CENTER_RECIPES`` and the fields an experiment changes."""
    recipe: str
    changes: dict = field(default_factory=dict)

    @property
    def spec(self):
        return recipe_spec(self.recipe, **self.changes)

    def record(self) -> dict:
        """What a result file says about this center: recipe, changes, full spec and caption."""
        return {"recipe": self.recipe, "changes": dict(self.changes), "spec": spec_dict(self.spec),
                "label": describe(self.spec)}


def ngd(lam: float, **changes) -> CenterChoice:
    return CenterChoice("ngd", {"lam": lam, **changes})


@dataclass(frozen=True)
class Plan:
    """One experiment: its settings per mode (``quick`` for tests, ``full`` for the record), the
    paper's claim or numbers, and the unstated choices as templates over the settings."""
    name: str
    title: str
    quick: dict
    full: dict
    paper: dict
    unstated: dict
    tables: bool = False            # Table 1/2 plans take a ``setting`` (the table's column)
    paper_scale: dict | None = None  # --full: the settings at the paper's scale (FULL_CHANGES)

    def settings(self, quick: bool, full: bool = False) -> dict:
        if full:
            if self.paper_scale is None:
                raise ValueError(f"--full applies to table1 only; {self.name} has no full-scale run.")
            return dict(self.paper_scale)
        return dict(self.quick if quick else self.full)

    def unstated_text(self, settings: dict) -> dict:
        return {k: v.format(**settings) for k, v in self.unstated.items()}


FIG3 = Plan(
    "fig3", "Figure 3 (left): NGD upper bound U of teacher-student minima against the width m",
    quick=dict(widths=[8, 16], n_minima=2, n_train=200, train_epochs=10, main_lam=1e-3,
               centers={"0.001": ngd(1e-3, steps=20)}, theory_trials=3,
               theory_sparsities=[0.9], n_points=5),
    full=dict(widths=[8, 16, 32, 64, 128, 256, 512], n_minima=3, n_train=2000, train_epochs=300,
              main_lam=1e-4, centers={"0.0001": ngd(1e-4, epochs=200), "0.001": ngd(1e-3, epochs=200)},
              theory_trials=50, theory_sparsities=[None, 0.5, 0.9], n_points=N_POINTS),
    paper={"figure": "Fig. 3 left", "claim": "NGD (upper bound) decreases monotonically towards 1 as "
           "the width m grows (teacher M = 4)", "numbers": None,
           "note": "plotted values are not available (image only)"},
    unstated={
        "widths": "not stated (read off an image): we use {widths}",
        "training": "the paper says 'SGD solutions' without settings; we train with Adam lr 1e-2, "
                    "cosine decay, batch 200, up to {train_epochs} epochs, stopping once the train "
                    "loss <= 1e-6; init = PyTorch default x 0.5 (preset init_scale)",
        "data": "d = M = 4 (as Fig. 3 right); {n_train} training points x ~ Unif(S^3), data seed 0; "
                "squared loss (mean over samples)",
        "pairs": "{n_minima} minima per width (seeds {seeds}), every pair",
        "lambda": "not stated; we report the ngd recipe at lambda in {centers_lams} (main {main_lam:g}), "
                  "a center per pair, init = mean of the two feet",
        "loss level": "the paper does not say how low the fold-line loss must be for U to count; we "
                      "report the fold-line's max train loss next to every U",
    })

SPARSITY_RUNS = {
    "sgd-small-init": {"train.optimizer": "sgd", "train.lr": 2e-2, "train.momentum": 0.9,
                       "model.init_scale": 1e-3},
    "sgd-default-init": {"train.optimizer": "sgd", "train.lr": 2e-2, "train.momentum": 0.9,
                         "model.init_scale": 0.5},
    "adam-fig3-recipe": {"train.lr": 1e-2, "train.lr_schedule": "cosine", "model.init_scale": 0.5},
}

FIG3_SPARSITY = Plan(
    "fig3-sparsity", "Figure 3 (right): sorted neuron norms of one trained student (M = d = 4)",
    quick=dict(width=64, epochs=150, n_train=200, runs=SPARSITY_RUNS, seed=0),
    full=dict(width=512, epochs=300, n_train=None, runs=SPARSITY_RUNS, seed=0),
    paper={"figure": "Fig. 3 right", "claim": "only a few of the 512 neurons have a large norm; most "
           "are close to 0 (sparse)", "numbers": None, "note": "plotted values are not available "
           "(image only)"},
    unstated={
        "optimizer": "the paper says 'SGD solution' and gives no lr, batch, steps or init",
        "choice": "three training runs, seed {seed}, width {width}, batch 200, stop at train loss "
                  "<= 1e-6 or after {epochs} epochs: SGD (momentum 0.9, lr 0.02) from a small init "
                  "(PyTorch default x 1e-3), the same SGD from the preset init (x 0.5), and the Adam "
                  "recipe of our Fig. 3 left",
        "sparsity measure": "not defined in the paper; we report how many neurons carry 50% and 90% "
                            "of the summed neuron norms, and how many exceed 10% of the largest",
    })

FIG4 = Plan(
    "fig4", "Figure 4: NGD upper bound of deep linear nets (L = 2, d = m) against m, runs averaged",
    quick=dict(widths=[4, 8], runs=2, train_epochs=5, main_lam=1e-3,
               centers={"0.001": ngd(1e-3, steps=20)}, n_points=5),
    full=dict(widths=[4, 8, 16, 32, 64], runs=5, train_epochs=200, main_lam=1e-5,
              centers={"1e-05": ngd(1e-5, epochs=500), "0.0001": ngd(1e-4, epochs=200),
                       "0.001": ngd(1e-3, epochs=200)}, n_points=N_POINTS),
    paper={"figure": "Fig. 4", "claim": "NGD of the 2-PL center is close to 1 and decreases with m "
           "(L = 2, d = m, average of 5 runs)", "numbers": None,
           "note": "plotted values are not available (image only)"},
    unstated={
        "widths": "not stated; we use d = m in {widths}",
        "data": "not stated; x ~ N(0, I_d), y = Q x with Q ~ N(0, 1/d) (1 x d), 1000 training points; "
                "run k uses data seed k, so every run has its own Q",
        "training": "not stated; Adam lr 3e-3, batch 100, no bias, PyTorch default init, up to "
                    "{train_epochs} epochs, stop at train loss <= 1e-7 (preset 'linear-net'); run k "
                    "trains minima with seeds 2k and 2k+1",
        "lambda": "not stated; the ngd recipe at lambda in {centers_lams} (main {main_lam:g})",
        "center": "the ngd recipe (init = mean of the two feet, Adam lr 1e-2 cosine, B_r = 1, B_t = 3, "
                  "data batch 200); its changes per lambda are in settings.centers (the smallest "
                  "lambda gets more steps: its fold-line only reaches the feet's loss level after "
                  "~2500 steps)",
    })

TABLE1 = Plan(
    "table1", "Table 1 (one column): star connectivity of 5 minima through one center, two recipes",
    quick=dict(centers={"paper-recipe": CenterChoice("paper", {"steps": 5}),
                        "fast-recipe": CenterChoice("fast", {"steps": 5})}, n_points=3),
    full=dict(centers={"paper-recipe": CenterChoice("paper", {"epochs": 20}),
                       "fast-recipe": CenterChoice("fast", {"epochs": 20})}, n_points=N_POINTS),
    paper={"table": "Table 1"},
    unstated={
        "minima training": "epochs, schedule, weight decay, augmentation and the FNN activation are "
                           "not stated; we use Adam lr 1e-3 (paper), batch 200 (paper), ReLU, "
                           "constant lr, no weight decay, {train_epochs} epochs, seeds {seeds}",
        "center init": "not stated; paper recipe: a fresh random init (seed 0 + 7919); fast recipe: "
                       "the mean of the feet",
        "center data batch": "not stated; 200 (the training batch), one minibatch shared by the 3 t's",
        "center lr schedule": "not stated; paper recipe constant lr 0.01, fast recipe cosine from 1e-3",
        "points per path": "not stated; {n_points} per straight piece (segment, fold-line leg)",
        "barrier": "the paper's: mean over the 10 pairs of the max train loss / min train accuracy "
                   "along each path (not endpoint-corrected); we add the endpoint-corrected height",
        "center length": "paper 200 epochs on all 60k images; ours is named in settings.centers",
    }, tables=True,
    paper_scale=dict(centers={"paper-recipe": CenterChoice("paper"), "fast-recipe": CenterChoice("fast")},
                     n_points=N_POINTS))

TABLE2 = Plan(
    "table2", "Table 2 (one column): NGD upper bound U and fold-line accuracy of 2 minima over lambda",
    quick=dict(centers={"0.001": CenterChoice("fast", {"lam": 1e-3, "steps": 5})}, n_points=3),
    full=dict(centers={f"{lam:g}": CenterChoice("fast", {"lam": lam, "epochs": 20})
                       for lam in (0.0, 1e-4, 1e-3, 1e-2)},
              n_points=N_POINTS),
    paper={"table": "Table 2"},
    unstated={
        "lambda": "not stated; we fit the fast recipe with the distance penalty lambda in "
                  "{centers_lams} and report the whole trade-off (the ngd recipe is the same with lr "
                  "1e-2; these runs predate it and keep lr 1e-3)",
        "minima": "the first two minima of our Table 1 run (same specs, so read from the cache)",
        "center": "not stated beyond Adam and the squared-distance penalty; the fast recipe (init = "
                  "mean of the two feet, Adam lr 1e-3 cosine, B_r = 1, B_t = 3, data batch 200)",
        "points per leg": "not stated; {n_points}",
    }, tables=True)

PLANS = {p.name: p for p in (FIG3, FIG3_SPARSITY, FIG4, TABLE1, TABLE2)}

from .alignment_plans import ALIGNMENT_PLANS  # noqa: E402  (modulo-permutation reproductions)

PLANS.update(ALIGNMENT_PLANS)
