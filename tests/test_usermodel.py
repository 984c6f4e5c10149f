"""Your own models and checkpoints: a plain nn.Sequential checkpoint (no leading Flatten) for the
zoo's default model, refusals that show the expected layout, and a builder from the user's own
Python file through the API, the CLI and the analyses, keyed by the file's content."""
from __future__ import annotations

import dataclasses
import inspect
import io
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape_core import (CheckpointError, ModelSpec, build_model, flatten, load_dataset,
                            minimum_from_checkpoint, preset, train_minima)
from landscape_core.checkpoints import expected_layout, load_checkpoint, mapping_text
from landscape_core.cli import main
from landscape_core.config import UserBuilder, spec_json
from landscape_core.training import minimum_key
from landscape_core import usermodel
from landscape_core.usermodel import UserModelError, configured, load_user_model, user_model

DEFAULT = preset("digits-mlp")
TINY = preset("tiny").replace(**{"data.n_train": 200, "train.epochs": 10, "n_minima": 2})

BUILDER = '''
import math
from torch import nn


def build(width: int = 12, input_shape=(64,), n_outputs: int = 10, act: str = "tanh"):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width),
                         nn.Tanh() if act == "tanh" else nn.ReLU(), nn.Linear(width, n_outputs))


def fixed():
    return nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
'''


def _plain_mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 10))


def _torch_bytes(state: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _safetensors_bytes(state: dict) -> bytes:
    from safetensors.torch import save
    return save({k: v.contiguous() for k, v in state.items()})


# ------------------------------------------------------------------ (a) checkpoints without Flatten
@pytest.mark.parametrize("fmt", ["torch", "safetensors"])
def test_plain_sequential_checkpoint_loads_for_the_default_preset(fmt):
    plain = _plain_mlp()
    raw = (_torch_bytes if fmt == "torch" else _safetensors_bytes)(plain.state_dict())
    m = minimum_from_checkpoint(raw, DEFAULT.model, DEFAULT.data)
    # independent oracle: the zoo model with the weights copied by hand, evaluated by hand
    zoo = build_model(DEFAULT.model, 0)
    with torch.no_grad():
        for i, j in ((0, 1), (2, 3), (4, 5)):
            zoo[j].weight.copy_(plain[i].weight)
            zoo[j].bias.copy_(plain[i].bias)
    assert torch.equal(m.theta, flatten(zoo))
    ds = load_dataset(DEFAULT.data)
    with torch.no_grad():
        logits = zoo(ds.X_train)
        loss = F.cross_entropy(logits, ds.y_train).item()
        acc = (logits.argmax(1) == ds.y_train).float().mean().item()
    assert m.train_loss == pytest.approx(loss, rel=1e-5)
    assert m.train_acc == pytest.approx(acc, abs=1e-6)
    assert dict(m.renamed) == {"0.weight": "1.weight", "0.bias": "1.bias", "2.weight": "3.weight",
                               "2.bias": "3.bias", "4.weight": "5.weight", "4.bias": "5.bias"}
    assert "0.weight -> 1.weight" in mapping_text(m.renamed)
    # the same weights under the zoo's own names are the same minimum (same key, same loss)
    same = minimum_from_checkpoint(_torch_bytes(zoo.state_dict()), DEFAULT.model, DEFAULT.data)
    assert same.key == m.key and same.train_loss == m.train_loss and same.renamed == ()


def test_expected_layout_lists_names_and_shapes_in_the_models_order():
    assert expected_layout(DEFAULT.model) == [
        ("1.weight", (64, 64)), ("1.bias", (64,)), ("3.weight", (64, 64)), ("3.bias", (64,)),
        ("5.weight", (10, 64)), ("5.bias", (10,))]
    bn = ModelSpec("mlp", width=8, depth=1, input_shape=(64,), n_outputs=10, batch_norm=True)
    names = [n for n, _ in expected_layout(bn)]
    assert "2.running_mean" in names and not any("num_batches_tracked" in n for n in names)


def test_many_layers_match_in_numeric_not_text_order():
    spec = ModelSpec("mlp", width=8, depth=6, input_shape=(64,), n_outputs=10)
    layers = [nn.Linear(64, 8)] + [nn.Linear(8, 8) for _ in range(5)] + [nn.Linear(8, 10)]
    plain = nn.Sequential(*[x for lay in layers for x in (lay, nn.ReLU())][:-1])   # 0, 2, ..., 12
    for raw in (_torch_bytes(plain.state_dict()), _safetensors_bytes(plain.state_dict())):
        renamed = {}
        theta = load_checkpoint(raw, build_model(spec), renamed=renamed)
        assert renamed["12.weight"] == "13.weight" and renamed["10.bias"] == "11.bias"
        assert torch.equal(theta, torch.cat([p.detach().flatten() for p in plain.parameters()]))


def test_mismatched_file_is_refused_with_the_expected_layout():
    short = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(_torch_bytes(short.state_dict()), build_model(DEFAULT.model))
    msg = str(info.value)
    assert "tensor '1.weight' (shape (64, 64)) is missing" in msg
    assert "the file has 4 tensors, the architecture 6" in msg
    assert ("Expected 6 tensors: 1.weight (64, 64), 1.bias (64,), 3.weight (64, 64), 3.bias (64,), "
            "5.weight (10, 64), 5.bias (10,); the file has 4: 0.weight (64, 64), 0.bias (64,), "
            "2.weight (10, 64), 2.bias (10,)") in msg
    assert "\n" not in msg                                  # one line for the CLI's boundary
    wrong = _plain_mlp()
    wrong[2] = nn.Linear(64, 32)
    wrong[4] = nn.Linear(32, 10)
    with pytest.raises(CheckpointError, match=r"in name order, tensor #3 is 2\.bias \(32,\) in the "
                                              r"file but 3\.bias \(64,\) in the model"):
        load_checkpoint(_safetensors_bytes(wrong.state_dict()), build_model(DEFAULT.model))


def test_ambiguous_file_is_refused_with_the_expected_layout():
    class Shuffled(nn.Module):          # saved in one order, named in another
        def __init__(self):
            super().__init__()
            self.b = nn.Linear(64, 64)
            self.a = nn.Linear(64, 64)
            self.c = nn.Linear(64, 10)
    with pytest.raises(CheckpointError, match=r"disagree \(a\.bias -> 1\.bias or 3\.bias\), "
                                              r"so the match is ambiguous\. Expected 6 tensors: "
                                              r"1\.weight \(64, 64\)"):
        load_checkpoint(_torch_bytes(Shuffled().state_dict()), build_model(DEFAULT.model))


def test_renamed_files_keep_every_safety_check(tmp_path):
    state = _plain_mlp().state_dict()
    model = lambda: build_model(DEFAULT.model)
    ints = {k: v.to(torch.int64) for k, v in state.items()}
    for raw in (_torch_bytes(ints), _safetensors_bytes(ints)):
        with pytest.raises(CheckpointError, match="holds (I64|torch.int64) values; the model expects "
                                                  "floating-point"):
            load_checkpoint(raw, model())
    nan = {k: v.clone() for k, v in state.items()}
    nan["2.weight"][0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="'3.weight' holds NaN or infinite values"):
        load_checkpoint(_safetensors_bytes(nan), model())
    # names and shapes come from the header: a bad match is refused before the (cut) data is read
    short = _safetensors_bytes(nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 10)).state_dict())
    with pytest.raises(CheckpointError, match="Expected 6 tensors"):
        load_checkpoint(short[:-1000], model())
    good = _safetensors_bytes(state)
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(good[:-40], model())

    class Exploit:
        def __reduce__(self):
            return (print, ("ran",))
    with pytest.raises(CheckpointError, match="it is a pickle that asks to load"):
        load_checkpoint(_torch_bytes({"0.weight": Exploit()}), model())


# ------------------------------------------------------------------ (b) the user's own builder
@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_net.py"
    path.write_text(BUILDER)
    return path


def test_builder_spec_is_keyed_by_content_function_and_kwargs(model_file):
    spec = user_model(model_file, base=TINY.model)
    assert spec.arch == "user" and spec.width == 12              # the builder's own default
    b = spec.builder
    import hashlib
    assert b.sha256 == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert (b.function, b.kwargs) == ("build", ())
    text = spec_json(spec)
    assert b.sha256 in text and str(model_file) not in text      # the path is not in keys
    assert user_model(model_file, base=TINY.model, act="tanh") == spec       # a default, given again
    relu = user_model(model_file, base=TINY.model, act="relu")
    assert relu != spec and relu.builder.kwargs == (("act", "relu"),)
    key = minimum_key(spec, TINY.data, TINY.train, 0)
    model_file.write_text(BUILDER + "\n# edited\n")
    edited = user_model(model_file, base=TINY.model)
    assert edited.builder.sha256 != b.sha256
    assert minimum_key(edited, TINY.data, TINY.train, 0) != key
    assert usermodel.describe(edited).startswith("my_net.py:build (sha256 ")


def test_existing_specs_keep_their_json():
    spec = DEFAULT.model
    assert "builder" not in spec_json(spec)
    assert json.loads(spec_json(spec)) == {"__type__": "ModelSpec", **{
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in dataclasses.asdict(spec).items() if k != "builder"}}


def test_builder_trained_through_the_api_and_the_cli_is_one_minimum(model_file, tmp_path, tmp_cache,
                                                                    one_thread):
    exp = load_user_model(model_file).experiment(TINY)
    (api,) = train_minima(exp.model, exp.data, exp.train, seeds=[0], cache=tmp_cache)
    out = tmp_path / "m.json"
    assert main(["train", "--preset", "tiny", "--quiet", "--model-file", f"{model_file}:build",
                 "--set", "data.n_train=200", "--set", "train.epochs=10", "--set", "n_minima=1",
                 "--cache-dir", str(tmp_cache.root), "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["meta"]["minima"]
    assert row["key"] == api.key and row["train_loss"] == api.train_loss
    # the model is the builder's, seeded: the same initialisation as calling it by hand
    torch.manual_seed(0)
    ns: dict = {}
    exec(BUILDER, ns)
    assert torch.equal(flatten(build_model(exp.model, 0)), flatten(ns["build"]()))


def test_analyses_take_a_user_model_unchanged(model_file, tmp_cache, one_thread):
    from landscape_core import linear_path, three_model_slice
    from landscape_core.center import CenterSpec
    from landscape_core.evaluate import evaluators_for
    from landscape_core.sweeps import width_sweep
    exp = load_user_model(model_file).experiment(TINY.replace(n_minima=3))
    minima = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, cache=tmp_cache)
    ev, _ = evaluators_for(build_model(exp.model), load_dataset(exp.data))
    prof = linear_path(minima[0].theta, minima[1].theta, evaluator=ev, n_points=5)
    assert prof.barriers("train")["max_loss"] >= max(m.train_loss for m in minima[:2]) - 1e-4
    sl, _ = three_model_slice(ev, *(m.theta for m in minima), resolution=4)
    assert sl.train_loss.shape == (4, 4)
    res = width_sweep(exp.replace(n_minima=2), [6, 10], center_spec=CenterSpec.fast(lam=1e-3, steps=10),
                      n_points=5, cache=tmp_cache)
    assert [r["value"] for r in res.summary()] == [6, 10]


def test_widths_and_arguments_the_builder_does_not_take_are_refused(model_file):
    fixed = load_user_model(model_file, "fixed")
    spec = fixed.spec(TINY.model)
    assert spec.width == ModelSpec.width and not fixed.takes_width
    with pytest.raises(UserModelError, match="takes no 'width' argument"):
        build_model(dataclasses.replace(spec, width=32))
    with pytest.raises(UserModelError, match="has no parameter 'depth'"):
        user_model(model_file, depth=3)
    with pytest.raises(ValueError, match="'depth' parameter of ModelSpec must keep its default"):
        dataclasses.replace(spec, depth=3)
    with pytest.raises(UserModelError, match="defines no function 'nope'; it defines build, fixed"):
        load_user_model(model_file, "nope")
    model_file.write_text(BUILDER + "\n\ndef needs(width, depth):\n    return fixed()\n")
    with pytest.raises(UserModelError, match=r"needs a value for 'depth' .* --model-arg depth="):
        user_model(model_file, "needs")
    assert user_model(model_file, "needs", depth=2).builder.kwargs == (("depth", 2),)


def test_dashboard_learns_the_model_only_from_argv_and_the_environment(model_file, tmp_path):
    assert set(inspect.signature(configured).parameters) == {"argv", "environ"}
    assert "import streamlit" not in inspect.getsource(usermodel)
    assert configured([], {}) is None
    assert configured(["app.py", "?model_file=x.py", "model-file=x.py"], {}) is None
    by_env = configured([], {usermodel.ENV_VAR: f"{model_file}:fixed"})
    assert by_env.function == "fixed" and by_env.name == "my_net.py:fixed"
    by_argv = configured(["app.py", f"--model-file={model_file}"], {usermodel.ENV_VAR: "other.py"})
    assert by_argv.function == "build" and by_argv.path == str(model_file.resolve())
    # a spec made from link-like values names no file: nothing is run, the build is refused
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\ndef build(**kw): pass\n")
    import hashlib
    sha = hashlib.sha256(evil.read_bytes()).hexdigest()
    spec = ModelSpec(**{"arch": "user", "builder": {"sha256": sha, "function": "build",
                                                     "path": str(evil)}})
    with pytest.raises(UserModelError, match="not loaded in this process"):
        build_model(spec)
    assert not marker.exists()
    with pytest.raises(ValueError, match="must be a UserBuilder for arch='user'"):
        ModelSpec(arch="user")
    assert "user" not in __import__("landscape_core.config").config.ARCHS   # not a sidebar option


def test_bad_model_files_are_one_line_errors(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("def build(:\n")
    assert main(["train", "--preset", "tiny", "--quiet", "--model-file", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Running the model file broken.py failed (line 1): SyntaxError")
    assert main(["train", "--preset", "tiny", "--quiet", "--model-file", str(tmp_path / "no.py")]) == 2
    assert "Cannot read the model file" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny", "--quiet", "--model-arg", "a=1"]) == 2
    assert "--model-arg needs --model-file" in capsys.readouterr().err
    with pytest.raises(ValueError, match="64 lower-case hex digits"):
        UserBuilder("abc")
