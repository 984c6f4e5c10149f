"""Your own architecture: a builder function in a Python file of yours.

A builder is a function of a ``.py`` file that returns an ``nn.Module``, for example::

    def build(width: int = 64, input_shape=(64,), n_outputs: int = 10, **kw) -> nn.Module: ...

``load_user_model(path, function)`` runs the file (it is your code: it runs only because you
named it, in Python, with the CLI's ``--model-file`` or when the dashboard is started with
``--model-file`` / ``LANDSCAPE_MODEL_FILE``; never from a URL, a widget or an upload) and
returns a ``UserModel``. ``UserModel.spec()`` / ``user_model(path, ...)`` give a
``ModelSpec(arch="user")`` that every analysis takes unchanged: ``build_model(spec, seed)``
calls the builder (seeded, inside ``torch.random.fork_rng``) with

- ``width=spec.width`` when it has a ``width`` parameter or ``**kwargs`` (so width sweeps work),
- ``input_shape`` and ``n_outputs`` from the spec when it has those parameters or ``**kwargs``,
- the extra keyword arguments recorded in the spec (``user_model(path, depth=3)``).

Cache keys: the spec records the sha256 of the file's bytes, the function's name and the extra
keyword arguments (not the path), so editing the file gives new keys and moving it keeps them.
The file is run from the very bytes that were hashed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .config import DEFAULT_PRESET, USER_ARCH, Experiment, ModelSpec, UserBuilder, preset

ENV_VAR = "LANDSCAPE_MODEL_FILE"
FLAG = "--model-file"
MAX_FILE_BYTES = 5_000_000
_PASSED = ("width", "input_shape", "n_outputs")     # spec fields handed to the builder

_LOCK = threading.RLock()
_BUILDERS: dict[tuple[str, str], Callable] = {}      # (sha256, function) -> builder
_PATHS: dict[tuple[str, str], str] = {}              # (sha256, function) -> file it came from
_MODULES: dict[str, types.ModuleType] = {}           # sha256 -> module run from those bytes


class UserModelError(ValueError):
    """A model file or builder that cannot be used (missing, not Python, no such function...)."""


@dataclass(frozen=True)
class UserModel:
    """A loaded builder: the file (absolute path), the function's name, the file's sha256."""
    path: str
    function: str
    sha256: str

    @property
    def name(self) -> str:
        """``file.py:function``, for labels."""
        return f"{Path(self.path).name}:{self.function}"

    @property
    def builder_fn(self) -> Callable:
        fn = _BUILDERS.get((self.sha256, self.function))
        if fn is None:
            raise UserModelError(f"The builder {self.name} is not loaded in this process (or the "
                                 "file changed); get it from load_user_model(path, function).")
        return fn

    @property
    def parameters(self) -> Mapping[str, inspect.Parameter]:
        """The builder's signature parameters (what a dashboard can offer as settings)."""
        return inspect.signature(self.builder_fn).parameters

    @property
    def takes_width(self) -> bool:
        """True when ``model.width`` reaches the builder (a ``width`` parameter or ``**kwargs``)."""
        return _accepts(self.builder_fn, "width")

    @property
    def default_width(self) -> int | None:
        """The default of the builder's ``width`` parameter when it is an int, else None."""
        p = self.parameters.get("width")
        ok = p is not None and isinstance(p.default, int) and not isinstance(p.default, bool)
        return p.default if ok and p.default >= 1 else None

    def spec(self, base: ModelSpec | None = None, *, width: int | None = None,
             **kwargs) -> ModelSpec:
        """A ``ModelSpec(arch="user")`` for this builder.

        base : the spec whose ``input_shape``, ``n_outputs`` and ``init_scale`` are kept
            (default: the default preset's model, digits 8x8 -> 10 classes).
        width : default: the builder's own ``width`` default, else ``base.width``; a builder
            that takes no width keeps ModelSpec's default (64) and cannot be swept over width.
        kwargs : extra keyword arguments of the builder (JSON values), part of the cache key.
        """
        base = base or preset(DEFAULT_PRESET).model
        fn = self.builder_fn
        clash = sorted(set(kwargs) & set(_PASSED))
        if clash:
            raise UserModelError(f"'{clash[0]}' is a model setting, not an extra argument: pass "
                                 f"it as {clash[0]}=... to spec() (CLI: --set model.{clash[0]}=...).")
        unknown = [k for k in kwargs if not _accepts(fn, k)]
        if unknown:
            raise UserModelError(
                f"The builder {self.name} has no parameter '{unknown[0]}' (it takes "
                f"{_signature_text(fn)}). Add the parameter or drop the argument.")
        params = self.parameters
        needed = [n for n, q in params.items() if q.default is q.empty and n not in kwargs
                  and n not in _PASSED and q.kind in (q.POSITIONAL_OR_KEYWORD, q.KEYWORD_ONLY)]
        if needed:
            raise UserModelError(f"The builder {self.name} needs a value for '{needed[0]}' (it "
                                 f"takes {_signature_text(fn)}): pass {needed[0]}=... (CLI: "
                                 f"--model-arg {needed[0]}=...) or give it a default.")
        kwargs = {k: v for k, v in kwargs.items()        # a builder default given again: one key
                  if k not in params or not _same(v, params[k].default)}
        if width is None:
            width = (self.default_width or base.width) if self.takes_width else ModelSpec.width
        elif not self.takes_width and width != ModelSpec.width:
            raise UserModelError(_no_width(self.name, width))
        return ModelSpec(USER_ARCH, width=width, input_shape=base.input_shape,
                         n_outputs=base.n_outputs, init_scale=base.init_scale,
                         builder=UserBuilder(self.sha256, self.function, tuple(kwargs.items())))

    def experiment(self, base: Experiment | str = DEFAULT_PRESET, *, width: int | None = None,
                   **kwargs) -> Experiment:
        """``base`` (an Experiment or a preset name) with its model replaced by this builder;
        the data, the training recipe and the number of minima are the preset's."""
        exp = preset(base) if isinstance(base, str) else base
        return dataclasses.replace(exp, model=self.spec(exp.model, width=width, **kwargs))


def _same(value, default) -> bool:
    if default is inspect.Parameter.empty:
        return False
    try:
        return UserBuilder("0" * 64, "f", (("v", value),)) == UserBuilder("0" * 64, "f", (("v", default),))
    except ValueError:
        return False


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get(name)
    if p is not None:
        return p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    return any(q.kind is q.VAR_KEYWORD for q in params.values())


def _signature_text(fn: Callable) -> str:
    try:
        return f"{fn.__name__}{inspect.signature(fn)}"
    except (TypeError, ValueError):
        return getattr(fn, "__name__", "the builder")


def _no_width(name: str, width) -> str:
    return (f"The builder {name} takes no 'width' argument, so model.width must stay "
            f"{ModelSpec.width}; got {width}. Add a `width` parameter to the builder to change or "
            "sweep widths.")


# ------------------------------------------------------------------------------ loading
def parse_target(text: str) -> tuple[str, str]:
    """``"path.py[:function]"`` -> (path, function); the function defaults to ``build``."""
    text = str(text).strip()
    head, sep, tail = text.rpartition(":")
    if sep and tail.isidentifier() and head:
        return head, tail
    return text, "build"


def load_user_model(path: str | os.PathLike, function: str = "build") -> UserModel:
    """Run the Python file ``path`` (once per content) and return its builder ``function``.

    The file is read, hashed and run from the same bytes; running it again with the same
    content reuses the module. Raises ``UserModelError`` for a missing or non-Python file, a
    file that fails to run, or a missing / non-callable function.
    """
    if not (isinstance(function, str) and function.isidentifier()):
        raise UserModelError(f"The builder's name must be a Python name, e.g. 'build'; got "
                             f"{str(function)[:80]!r}.")
    p = Path(path).expanduser()
    if p.suffix != ".py":
        raise UserModelError(f"The model file must be a Python file ending in .py; got {str(p)!r}. "
                             "Name it like examples/my_model.py (optionally path.py:function).")
    try:
        p = p.resolve(strict=True)
        if p.stat().st_size > MAX_FILE_BYTES:
            raise UserModelError(f"The model file {p} is larger than {MAX_FILE_BYTES // 10**6} MB; "
                                 "expected a short Python file that defines a builder.")
        source = p.read_bytes()
    except OSError as exc:
        raise UserModelError(f"Cannot read the model file {str(p)!r}: {exc.strerror or exc}. "
                             "Check the path (relative paths start at the current folder).") from None
    sha = hashlib.sha256(source).hexdigest()
    with _LOCK:
        module = _MODULES.get(sha)
        if module is None:
            module = _run(p, source, sha)
            _MODULES[sha] = module
        fn = getattr(module, function, None)
        if not callable(fn):
            found = sorted(k for k, v in vars(module).items()
                           if callable(v) and not k.startswith("_") and
                           getattr(v, "__module__", None) == module.__name__)
            raise UserModelError(
                f"The model file {p.name} defines no function '{function}'"
                + (f"; it defines {', '.join(found[:8])}" if found else "")
                + f". Name the builder with {FLAG} {p.name}:NAME.")
        _BUILDERS[(sha, function)] = fn
        _PATHS[(sha, function)] = str(p)
    return UserModel(str(p), function, sha)


def _run(path: Path, source: bytes, sha: str) -> types.ModuleType:
    name = f"landscape_user_model_{sha[:16]}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module               # dataclasses and pickling in the file look it up
    try:
        code = compile(source, str(path), "exec")
        exec(code, module.__dict__)
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise UserModelError(f"Running the model file {path.name} failed{where}: "
                             f"{type(exc).__name__}: {str(exc)[:200]}. Fix the file and start "
                             "again (LANDSCAPE_DEBUG=1 shows the traceback).") from exc
    return module


def user_model(path: str | os.PathLike, function: str = "build", *, base: ModelSpec | None = None,
               width: int | None = None, **kwargs) -> ModelSpec:
    """``ModelSpec(arch="user")`` for ``function`` of the Python file ``path``: the one-call form
    of ``load_user_model(path, function).spec(base, width=width, **kwargs)``."""
    return load_user_model(path, function).spec(base, width=width, **kwargs)


def describe(spec: ModelSpec) -> str:
    """A label for a model spec: ``file.py:build (sha256 1a2b3c4d)`` for a user model."""
    if spec.arch != USER_ARCH:
        return spec.arch
    b = spec.builder
    path = _PATHS.get((b.sha256, b.function))
    name = f"{Path(path).name}:{b.function}" if path else b.function
    extra = "".join(f", {k}={v!r}" for k, v in b.kwargs)
    return f"{name} (sha256 {b.sha256[:8]}{extra})"


# ------------------------------------------------------------------------------ building
def build_user_model(spec: ModelSpec):
    """Call the spec's builder (``models.build_model`` does this inside its seeded RNG)."""
    from torch import nn
    b = spec.builder
    fn = _BUILDERS.get((b.sha256, b.function))
    if fn is None:
        raise UserModelError(
            f"This model was made by the builder '{b.function}' of a file with sha256 "
            f"{b.sha256[:12]}..., which is not loaded in this process. Load the same file first: "
            f"landscape_core.usermodel.load_user_model(path, {b.function!r}) (CLI: {FLAG} "
            f"path.py:{b.function}; dashboard: start it with {FLAG} or {ENV_VAR}).")
    kwargs = dict(b.kwargs)
    for name in _PASSED:
        if _accepts(fn, name):
            kwargs[name] = getattr(spec, name)
    if not _accepts(fn, "width") and spec.width != ModelSpec.width:
        raise UserModelError(_no_width(f"'{b.function}'", spec.width))
    model = fn(**kwargs)
    if not isinstance(model, nn.Module):
        raise UserModelError(f"The builder '{b.function}' returned a {type(model).__name__}; "
                             "expected a torch.nn.Module. Return the model from the function.")
    params = list(model.parameters())
    if not params or not all(p.is_floating_point() for p in params):
        raise UserModelError(f"The builder '{b.function}' returned a model with "
                             f"{'no parameters' if not params else 'non-floating-point parameters'};"
                             " expected trainable floating-point weights.")
    return model


# ------------------------------------------------------------------------------ dashboard
def configured(argv: Sequence[str] | None = None,
               environ: Mapping[str, str] | None = None) -> UserModel | None:
    """The user model the person who started the program named, or None.

    Read only from the command line (``--model-file path.py[:function]`` or
    ``--model-file=...``, e.g. ``streamlit run app.py -- --model-file my_model.py``) and then
    from the environment variable ``LANDSCAPE_MODEL_FILE``. Never from a URL, a widget or an
    upload: those come from visitors, and naming a file runs its code on the server.
    Raises ``UserModelError`` when a file was named but cannot be used.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    target = None
    for i, arg in enumerate(argv):
        if arg == FLAG and i + 1 < len(argv):
            target = argv[i + 1]
        elif arg.startswith(FLAG + "="):
            target = arg[len(FLAG) + 1:]
    if target is None:
        target = environ.get(ENV_VAR) or None
    if not target:
        return None
    return load_user_model(*parse_target(target))


__all__ = ["ENV_VAR", "FLAG", "UserModel", "UserModelError", "build_user_model", "configured",
           "describe", "load_user_model", "parse_target", "user_model"]
