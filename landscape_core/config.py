"""Frozen specifications: every experiment is described by plain, hashable, JSON-able values.

A spec is validated once, in ``__post_init__``; a spec that exists is valid. The canonical
JSON of a spec (``spec_json``) is what the disk cache keys on, so two equal specs always
share their results and any changed field gives a new key.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ._validation import Int, Options, Real, check_int, check_options, validated_spec

SCHEMA_VERSION = 1

ARCHS = ("two_layer_relu", "deep_linear", "mlp", "vgg", "resnet")
USER_ARCH = "user"     # a builder from the user's own Python file (see landscape_core.usermodel)
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "gelu", "linear")
DATASETS = ("teacher_student", "linear_regression", "digits", "mnist", "fashion_mnist",
            "cifar10", "mnist1d")
BN_POLICIES = ("recompute", "eval")


def spec_dict(spec: Any) -> dict:
    """Plain-dict form of a spec (nested specs become dicts, tuples become lists)."""
    return json.loads(spec_json(spec))


def spec_json(spec: Any) -> str:
    """Canonical JSON (sorted keys, no spaces) of a spec or a dict of specs.

    A field declared with ``metadata={"spec_json": "omit_default"}`` is left out while it
    holds its default, so adding such a field keeps every existing spec's JSON (and cache key).
    """
    def default(o):
        raise TypeError(f"cannot serialise {type(o).__name__} in a spec")
    return json.dumps(_plain(spec, nested=False), sort_keys=True, separators=(",", ":"),
                      default=default)


def _plain(o: Any, nested: bool) -> Any:
    """JSON-able form: a dataclass outside another dataclass carries its ``__type__``."""
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        out = {} if nested else {"__type__": type(o).__name__}
        for f in dataclasses.fields(o):
            value = getattr(o, f.name)
            if f.metadata.get("spec_json") == "omit_default" and value == f.default:
                continue
            out[f.name] = _plain(value, True)
        return out
    if isinstance(o, (list, tuple)):
        return [_plain(v, nested) for v in o]
    if isinstance(o, dict):
        return {k: _plain(v, nested) for k, v in o.items()}
    return o


@validated_spec(name=Options(DATASETS), n_train=Int(1, none=True), n_test=Int(1, none=True),
                seed=Int(0), input_dim=Int(1, 100_000), output_dim=Int(1, 10_000))
@dataclass(frozen=True)
class DataSpec:
    """Which data, how much of it, and how to make it (for synthetic sets).

    name : one of DATASETS. ``digits`` (scikit-learn's embedded 8x8 digits) is the default:
        it needs no download. Image sets are read from ``data_dir`` (or the environment
        variable LANDSCAPE_DATA_DIR, or ./data, or ../shared/data) and never downloaded.
    n_train, n_test : keep the first n examples (None = all available).
    seed : seed of synthetic data and of the train/test split of ``digits``.
    input_dim, teacher_neurons : d and M of the paper's teacher-student set (Assumption 5),
        and d of the linear-regression set (y = Q x with Q of shape (output_dim, d)).
    """
    name: str = "digits"
    n_train: int | None = None
    n_test: int | None = None
    seed: int = 0
    input_dim: int = 4               # d (synthetic sets only)
    teacher_neurons: int = 4         # M, teacher-student only; M <= d
    output_dim: int = 1              # rows of Q, linear regression only
    data_dir: str | None = None      # not part of the result: excluded from cache keys

    def __post_init__(self):                       # a bound that depends on another field
        check_int(self.teacher_neurons, "teacher_neurons", "DataSpec", lo=1, hi=self.input_dim)

    def key_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("data_dir")
        return d


_SHA256 = re.compile(r"[0-9a-f]{64}")
_USER_FIXED = ("depth", "activation", "dropout", "batch_norm", "bias", "hidden", "variant")


@dataclass(frozen=True)
class UserBuilder:
    """Which builder of a user's Python file makes a model (``ModelSpec(arch="user")``).

    sha256 : of the file's bytes, so an edited file gives new cache keys.
    function : the builder's name in the file.
    kwargs : extra keyword arguments of the builder, as sorted (name, value) pairs of JSON
        values (lists become tuples).
    The file's path is not part of the spec (moving the file keeps its results); specs are made
    by ``usermodel.load_user_model(path).spec()``, which runs the file and remembers its builder.
    """
    sha256: str
    function: str = "build"
    kwargs: tuple = ()

    def __post_init__(self):
        if not (isinstance(self.sha256, str) and _SHA256.fullmatch(self.sha256)):
            raise ValueError(f"The 'sha256' parameter of UserBuilder must be 64 lower-case hex "
                             f"digits (the file's sha256). Got {str(self.sha256)[:80]!r} instead.")
        if not (isinstance(self.function, str) and self.function.isidentifier()):
            raise ValueError(f"The 'function' parameter of UserBuilder must be a Python name. "
                             f"Got {str(self.function)[:80]!r} instead.")
        items = self.kwargs.items() if isinstance(self.kwargs, dict) else self.kwargs
        try:
            pairs = tuple(sorted((str(k), _frozen_json(v)) for k, v in items))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The 'kwargs' parameter of UserBuilder must hold (name, value) pairs "
                             f"of JSON values (numbers, text, True/False, None, lists): {exc}. "
                             f"Got {self.kwargs!r} instead.") from None
        if len({k for k, _ in pairs}) != len(pairs):
            raise ValueError(f"The 'kwargs' parameter of UserBuilder names an argument twice. "
                             f"Got {self.kwargs!r} instead.")
        object.__setattr__(self, "kwargs", pairs)

    @property
    def kwargs_dict(self) -> dict:
        return dict(self.kwargs)


def _frozen_json(v):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"{v!r} is not finite")
        return v
    if isinstance(v, (list, tuple)):
        return tuple(_frozen_json(x) for x in v)
    raise TypeError(f"{type(v).__name__} is not a JSON value")


@validated_spec(arch=Options(ARCHS + (USER_ARCH,)), width=Int(1, 1_000_000), depth=Int(1, 64),
                n_outputs=Int(1, 1_000_000), activation=Options(ACTIVATIONS),
                init_scale=Real(0.0, 1e6, lo_open=True), dropout=Real(0.0, 0.95))
@dataclass(frozen=True)
class ModelSpec:
    """An architecture with its width knobs. Built deterministically by ``build_model(spec, seed)``.

    arch : ``two_layer_relu`` (the paper's student f(x) = sum_i relu(w_i . x), no output
        weights; ``width`` = m), ``deep_linear`` (A_L ... A_1 x, ``depth`` = L matrices),
        ``mlp`` (``depth`` hidden layers of ``width`` units, or explicit ``hidden``),
        ``vgg`` and ``resnet`` (``variant`` picks the layout, ``width`` multiplies channels;
        width=64 is the standard VGG16/ResNet18 base); ``user``: the builder function of the
        user's own Python file (``builder``; made by ``usermodel.user_model``), called with
        ``width``, ``input_shape`` and ``n_outputs`` where it accepts them.
    input_shape : shape of one input, e.g. (784,) or (1, 28, 28) or (3, 32, 32).
    n_outputs : classes (classification) or outputs (regression).
    init_scale : multiplies every parameter of the default initialisation.
    """
    arch: str = "mlp"
    width: int = 64
    depth: int = 2
    input_shape: tuple = (64,)
    n_outputs: int = 10
    activation: str = "relu"
    init_scale: float = 1.0
    dropout: float = 0.0
    batch_norm: bool = False
    bias: bool = True
    hidden: tuple | None = None      # explicit MLP hidden sizes, e.g. (500, 300); overrides width/depth
    variant: str = "small"           # vgg: small | vgg11 | vgg16; resnet: small | resnet18 | resnet34
    # arch="user" only: the user's builder; left out of the JSON (and keys) while None
    builder: UserBuilder | None = field(default=None, metadata={"spec_json": "omit_default"})

    def __post_init__(self):
        c = "ModelSpec"
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        if not self.input_shape or any(s < 1 for s in self.input_shape):
            raise ValueError(f"The 'input_shape' parameter of ModelSpec must be a non-empty tuple of "
                             f"positive ints. Got {self.input_shape!r} instead.")
        if self.hidden is not None:
            object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
            if any(h < 1 for h in self.hidden):
                raise ValueError(f"The 'hidden' parameter of ModelSpec must hold positive ints. "
                                 f"Got {self.hidden!r} instead.")
        self._check_builder()
        if self.arch == "vgg":
            check_options(self.variant, "variant", c, ("small", "vgg11", "vgg16"))
        if self.arch == "resnet":
            check_options(self.variant, "variant", c, ("small", "resnet18", "resnet34"))
        if self.arch in ("vgg", "resnet") and len(self.input_shape) != 3:
            raise ValueError(f"The 'input_shape' parameter of ModelSpec must be (channels, height, "
                             f"width) for arch={self.arch!r}. Got {self.input_shape!r} instead.")

    def _check_builder(self) -> None:
        b = self.builder
        if isinstance(b, dict):                    # a spec read back from JSON (cache metadata)
            b = UserBuilder(**{k: v for k, v in b.items() if k in ("sha256", "function", "kwargs")})
            object.__setattr__(self, "builder", b)
        if self.arch != USER_ARCH:
            if b is not None:
                raise ValueError(f"The 'builder' parameter of ModelSpec is only for arch="
                                 f"{USER_ARCH!r}. Got a builder with arch={self.arch!r} instead.")
            return
        if not isinstance(b, UserBuilder):
            raise ValueError(f"The 'builder' parameter of ModelSpec must be a UserBuilder for arch="
                             f"{USER_ARCH!r}. Got {type(b).__name__} instead. Make the spec with "
                             "landscape_core.usermodel.user_model(path) (CLI: --model-file path.py).")
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        changed = [n for n in _USER_FIXED if getattr(self, n) != defaults[n]]
        if changed:
            n = changed[0]
            raise ValueError(f"The '{n}' parameter of ModelSpec must keep its default "
                             f"({defaults[n]!r}) for arch={USER_ARCH!r}: the builder decides the "
                             f"layout. Got {getattr(self, n)!r} instead. Pass it to the builder as a "
                             f"keyword (user_model(path, {n}=...); CLI: --model-arg {n}=...).")


@validated_spec(optimizer=Options("adam", "sgd"), lr=Real(0.0, 100.0, lo_open=True),
                weight_decay=Real(0.0, 10.0), momentum=Real(0.0, 0.999), batch_size=Int(1, 1_000_000),
                epochs=Int(1, 100_000), lr_schedule=Options("constant", "cosine"),
                target_train_acc=Real(0.0, 1.0, none=True), target_train_loss=Real(0.0, none=True),
                device=Options("auto", "cpu", "cuda"))
@dataclass(frozen=True)
class TrainSpec:
    """How one minimum is trained. Stopping: ``epochs`` passes over the data, or earlier once
    the full-training-set accuracy reaches ``target_train_acc`` or the loss falls below
    ``target_train_loss`` (checked after each epoch)."""
    optimizer: str = "adam"          # adam | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9            # sgd only
    batch_size: int = 128
    epochs: int = 20
    lr_schedule: str = "constant"    # constant | cosine
    target_train_acc: float | None = None   # in [0, 1]
    target_train_loss: float | None = None
    device: str = "auto"             # auto | cpu | cuda; not part of the result's key

    def key_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("device")
        return d


@validated_spec(n_minima=Int(1, 100))
@dataclass(frozen=True)
class Experiment:
    """A dataset, a model and a training recipe: everything that defines a family of minima."""
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    n_minima: int = 3
    seeds: tuple | None = None       # default: 0 .. n_minima-1

    def __post_init__(self):
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
            if len(self.seeds) != self.n_minima:
                raise ValueError(f"The 'seeds' parameter of Experiment must hold n_minima="
                                 f"{self.n_minima} seeds. Got {len(self.seeds)} instead.")

    @property
    def seed_list(self) -> tuple:
        return self.seeds if self.seeds is not None else tuple(range(self.n_minima))

    def replace(self, **changes) -> "Experiment":
        """A copy with fields of the nested specs replaced, e.g. ``replace(**{"model.width": 32})``."""
        parts = {"data": {}, "model": {}, "train": {}, "": {}}
        for k, v in changes.items():
            head, _, tail = k.partition(".")
            if tail:
                if head not in parts or head == "":
                    raise ValueError(f"Unknown spec field {k!r}: expected data.*, model.* or train.*")
                parts[head][tail] = v
            else:
                parts[""][k] = v
        data = dataclasses.replace(self.data, **parts["data"])
        model = dataclasses.replace(self.model, **parts["model"])
        train = dataclasses.replace(self.train, **parts["train"])
        return dataclasses.replace(self, data=data, model=model, train=train, **parts[""])


def _preset_table() -> dict[str, Experiment]:
    ts = DataSpec("teacher_student", n_train=2000, n_test=1000, input_dim=4, teacher_neurons=4)
    return {
        # Embedded default: scikit-learn digits, a small MLP; every page answers in seconds.
        "digits-mlp": Experiment(
            DataSpec("digits"),
            ModelSpec("mlp", width=64, depth=2, input_shape=(64,), n_outputs=10),
            TrainSpec("adam", lr=3e-3, batch_size=64, epochs=30, target_train_acc=1.0),
            n_minima=4),
        # Tiny setting for tests and teaching demos: seconds end to end.
        "tiny": Experiment(
            DataSpec("digits", n_train=400, n_test=200),
            ModelSpec("mlp", width=16, depth=1, input_shape=(64,), n_outputs=10),
            TrainSpec("adam", lr=1e-2, batch_size=100, epochs=15),
            n_minima=3),
        # The paper's Section 3 student (Figure 3): d = M = 4, squared loss, no output weights.
        "teacher-student": Experiment(
            ts, ModelSpec("two_layer_relu", width=64, input_shape=(4,), n_outputs=1, bias=False,
                          init_scale=0.5),
            TrainSpec("adam", lr=3e-3, batch_size=200, epochs=200, target_train_loss=1e-6),
            n_minima=2),
        # Deep linear network of Section 4 (Figure 4): L = 2, d = m.
        "linear-net": Experiment(
            DataSpec("linear_regression", n_train=1000, n_test=500, input_dim=8),
            ModelSpec("deep_linear", width=8, depth=2, input_shape=(8,), n_outputs=1, bias=False),
            TrainSpec("adam", lr=3e-3, batch_size=100, epochs=200, target_train_loss=1e-7),
            n_minima=2),
        # The paper's FNN 784-500-300-10 on MNIST (Tables 1-2): Adam lr 1e-3, batch 200.
        "mnist-fnn": Experiment(
            DataSpec("mnist"),
            ModelSpec("mlp", hidden=(500, 300), input_shape=(1, 28, 28), n_outputs=10),
            TrainSpec("adam", lr=1e-3, batch_size=200, epochs=20, target_train_acc=0.999),
            n_minima=5),
        "fashion-mlp": Experiment(
            DataSpec("fashion_mnist", n_train=10000),
            ModelSpec("mlp", width=256, depth=2, input_shape=(1, 28, 28), n_outputs=10),
            TrainSpec("adam", lr=1e-3, batch_size=200, epochs=20),
            n_minima=3),
        # GPU presets (CIFAR-10 subset from the shared data folder).
        "cifar-vgg16": Experiment(
            DataSpec("cifar10"),
            ModelSpec("vgg", width=64, variant="vgg16", input_shape=(3, 32, 32), n_outputs=10,
                      batch_norm=True),
            TrainSpec("adam", lr=5e-3, batch_size=200, epochs=60, target_train_acc=0.999),
            n_minima=5),
        "cifar-resnet18": Experiment(
            DataSpec("cifar10"),
            ModelSpec("resnet", width=64, variant="resnet18", input_shape=(3, 32, 32), n_outputs=10,
                      batch_norm=True),
            TrainSpec("adam", lr=5e-3, batch_size=200, epochs=60, target_train_acc=0.999),
            n_minima=5),
        # Table 1's ResNet34 column (Table 2 names a ResNet18: the paper is inconsistent).
        "cifar-resnet34": Experiment(
            DataSpec("cifar10"),
            ModelSpec("resnet", width=64, variant="resnet34", input_shape=(3, 32, 32), n_outputs=10,
                      batch_norm=True),
            TrainSpec("adam", lr=5e-3, batch_size=200, epochs=60, target_train_acc=0.999),
            n_minima=5),
        # The paper's MNIST VGG16 (Tables 1-2): the CIFAR layout on 1x28x28 inputs; the fifth
        # max-pool is skipped once the feature map is 1x1 (the paper does not say how it adapts it).
        "mnist-vgg16": Experiment(
            DataSpec("mnist"),
            ModelSpec("vgg", width=64, variant="vgg16", input_shape=(1, 28, 28), n_outputs=10,
                      batch_norm=True),
            TrainSpec("adam", lr=5e-3, batch_size=200, epochs=30, target_train_acc=0.999),
            n_minima=5),
    }


PRESETS: dict[str, Experiment] = _preset_table()
DEFAULT_PRESET = "digits-mlp"


def preset(name: str) -> Experiment:
    """Return the named preset; raise a ValueError that lists the known names."""
    check_options(name, "name", "preset", tuple(PRESETS))
    return PRESETS[name]
