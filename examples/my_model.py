"""An architecture of your own for Landscape Explorer: a small residual MLP.

Use it with any command, page or function (see README, "Your own model"):

    python -m landscape_core train --model-file examples/my_model.py --set model.width=32
    python -m landscape_core sweep --model-file examples/my_model.py:build --field model.width --values 16 32 64
    streamlit run app.py -- --model-file examples/my_model.py          # or LANDSCAPE_MODEL_FILE=...

    from landscape_core.usermodel import user_model
    spec = user_model("examples/my_model.py", width=32, blocks=2)

The builder is called with ``width``, ``input_shape`` and ``n_outputs`` (from the chosen data
set) and any extra keyword you give (``blocks`` here). It is seeded by the library, so it must
not seed or draw random numbers of its own outside the modules' default initialisation.
"""
import math

from torch import nn


class Residual(nn.Module):
    """x + Linear(relu(Linear(x)))."""

    def __init__(self, width: int):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x):
        return x + self.inner(x)


def build(width: int = 64, input_shape=(64,), n_outputs: int = 10, blocks: int = 1) -> nn.Module:
    """Flatten -> Linear(in, width) -> `blocks` residual blocks -> ReLU -> Linear(width, n_outputs)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), width),
        *[Residual(width) for _ in range(blocks)],
        nn.ReLU(),
        nn.Linear(width, n_outputs),
    )
