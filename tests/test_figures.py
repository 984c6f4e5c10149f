"""Figure builders: built from small synthetic results; traces, axes and data checked."""
import numpy as np
import plotly.graph_objects as go
import pytest

from landscape_core import PathProfile, Slice2D, figures


def profile(kind="segment", T=11, acc=True, label=""):
    t = np.linspace(0, 1, T)
    loss = 0.1 + np.sin(np.pi * t) * (2.0 if kind == "segment" else 0.01)
    accuracy = 1.0 - 0.5 * np.sin(np.pi * t) if acc else None
    vt = (0.0, 1.0) if kind == "segment" else (0.0, 0.5, 1.0)
    return PathProfile(kind, t, loss, accuracy, loss * 1.1, accuracy, vt, 2.0, 1.9, "none", label)


def grid_slice(A=5, B=4, kind="three_models"):
    alphas, betas = np.linspace(-1, 1, A), np.linspace(0, 2, B)
    loss = 0.01 + np.add.outer(alphas ** 2, betas ** 2)               # (A, B), indexed [alpha, beta]
    return Slice2D(alphas, betas, loss, 1 - loss / loss.max(), None, None, kind, "none",
                   {"A": (0.0, 0.0), "B": (1.0, 0.0)})


def test_minimum_colors_are_stable_and_distinct_from_path_colours():
    assert figures.minimum_color(0) == figures.minimum_color(len(figures.PALETTE))
    assert len({figures.minimum_color(i) for i in range(len(figures.PALETTE))}) == len(figures.PALETTE)
    assert figures.SEGMENT_COLOR not in figures.PALETTE and figures.FOLD_COLOR not in figures.PALETTE


def test_path_profile_figure_traces_axes_and_data():
    seg, fold = profile("segment"), profile("fold_line")
    fig = figures.path_profile_figure([seg, fold])
    assert isinstance(fig, go.Figure)
    assert [tr.type for tr in fig.data] == ["scatter"] * 5           # loss + accuracy per path + θ* key
    np.testing.assert_array_equal(fig.data[0].y, seg.train_loss)
    np.testing.assert_array_equal(fig.data[1].y, seg.train_acc)
    np.testing.assert_array_equal(fig.data[2].x, fold.t)
    assert fig.data[0].line.color == figures.SEGMENT_COLOR and fig.data[2].line.color == figures.FOLD_COLOR
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.title.text == "train loss"
    assert fig.layout.yaxis2.title.text == "train accuracy"
    assert fig.layout.xaxis.title.text.startswith("t")
    assert any(s.x0 == 0.5 for s in fig.layout.shapes)               # θ* marker at t = 0.5
    assert not fig.layout.annotations or all("θ*" not in a.text for a in fig.layout.annotations)
    assert fig.data[-1].name == "θ* (t = 0.5)" and fig.data[-1].line.dash == "dot"


def test_path_profile_figure_test_split_linear_scale_and_regression():
    fig = figures.path_profile_figure([profile("segment", acc=False)], split="test", log_loss=False)
    assert len(fig.data) == 1 and fig.layout.yaxis.type == "linear"
    np.testing.assert_allclose(fig.data[0].y, profile("segment").test_loss)
    with pytest.raises(ValueError, match="split"):
        figures.path_profile_figure([profile()], split="valid")


def test_distance_and_barrier_matrices():
    names = ["θ₁", "θ₂", "θ₃"]
    d = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], float)
    fig = figures.distance_matrix_figure(d, names)
    assert fig.data[0].type == "heatmap" and list(fig.data[0].x) == names
    np.testing.assert_array_equal(fig.data[0].z, d)
    direct, fold = d + np.diag([np.nan] * 3), d / 100
    fig = figures.barrier_matrices_figure(direct, fold, names, metric_label="max loss")
    assert [tr.type for tr in fig.data] == ["heatmap", "heatmap"]
    np.testing.assert_array_equal(fig.data[1].z, fold)
    assert fig.data[0].zmin == fig.data[1].zmin == 0.0              # shared colour range
    fig = figures.barrier_matrices_figure(direct, None, names, metric_label="max loss")
    assert len(fig.data) == 1
    with pytest.raises(ValueError, match="shape"):
        figures.distance_matrix_figure(d[:2], names)


def test_star_figure_counts_and_positions():
    feet = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    held = np.array([[0.0, -1.0]])
    fig = figures.star_figure(feet, [0.0, 0.0], ["a", "b", "c"], spoke_values=[0.1, 0.2, 0.3],
                              held_out_xy=held, held_out_names=["h"], held_out_values=[2.0])
    lines = [tr for tr in fig.data if tr.mode == "lines"]
    assert len(lines) == 4                                            # 3 spokes + 1 held-out spoke
    assert lines[-1].line.dash == "dash"
    center = [tr for tr in fig.data if tr.name == "center θ*"][0]
    assert center.marker.symbol == "star" and list(center.x) == [0.0]
    feet_tr = [tr for tr in fig.data if tr.name.startswith("feet")][0]
    np.testing.assert_array_equal(feet_tr.x, feet[:, 0])
    assert fig.layout.xaxis.title.text == "MDS axis 1"
    assert lines[0].line.color != lines[-1].line.color                # coloured by barrier


def test_slice_heatmap_contour_and_overlays():
    sl = grid_slice()
    fig = figures.slice_figure(sl, log_scale=False, points={"A": (0, 0), "B": (1, 0)},
                               paths={"segment A – B": np.array([[0, 0], [1, 0]])},
                               geodesic=np.array([[0, 0], [0.5, 0.5], [1, 0]]))
    heat = fig.data[0]
    assert heat.type == "heatmap" and np.asarray(heat.z).shape == (4, 5)   # z[y][x] = grid.T
    np.testing.assert_array_equal(heat.z, sl.train_loss.T)
    np.testing.assert_array_equal(heat.x, sl.alphas)
    names = [tr.name for tr in fig.data]
    assert "fast-marching geodesic" in names and "models" in names and "segment A – B" in names
    assert fig.layout.xaxis.title.text.startswith("α") and fig.layout.yaxis.title.text.startswith("β")
    fig = figures.slice_figure(sl, log_scale=True, style="contour")
    assert fig.data[0].type == "contour"
    np.testing.assert_allclose(fig.data[0].z, np.log10(sl.train_loss.T))
    np.testing.assert_array_equal(fig.data[0].customdata, sl.train_loss.T)  # raw loss in hover
    fig = figures.slice_figure(sl, metric="train_acc", log_scale=True)
    np.testing.assert_array_equal(fig.data[0].z, sl.train_acc.T)        # accuracy never logged
    with pytest.raises(ValueError, match="test_loss"):
        figures.slice_figure(sl, metric="test_loss")


def test_slice_off_plane_models_are_hollow_with_distance():
    sl = grid_slice()
    fig = figures.slice_figure(sl, points={"A": (0, 0), "C": (0.5, 1.0)}, off_plane={"A": 0.0, "C": 11.2})
    off = [tr for tr in fig.data if tr.name == "models off the plane (projected)"][0]
    assert off.marker.symbol == "circle-open" and off.text[0] == "C (11.2 off the plane)"
    on = [tr for tr in fig.data if tr.name == "models"][0]
    assert list(on.text) == ["A"] and not on.showlegend
    assert fig.layout.title.text.startswith("Plane through three models")


def test_slice_surface():
    sl = grid_slice()
    fig = figures.slice_surface_figure(sl, log_scale=False, points={"A": (0.0, 0.0)})
    assert [tr.type for tr in fig.data] == ["surface", "scatter3d"]
    np.testing.assert_array_equal(fig.data[0].z, sl.train_loss.T)
    assert fig.data[1].z[0] == pytest.approx(sl.train_loss[2, 0])       # nearest node of (0, 0)
    assert fig.layout.scene.xaxis.title.text == "α"


def test_sweep_figure_means_errors_and_points():
    summary = [{"value": w, "ngd_bound_mean": 1 + 1 / w, "ngd_bound_std": 0.01,
                "euclidean_mean": w, "euclidean_std": 1.0, "segment_max_loss_mean": 2.0,
                "segment_max_loss_std": 0.1, "fold_max_loss_mean": 0.01, "fold_max_loss_std": 0.0}
               for w in (8, 16, 32)]
    rows = [{"value": w, "ngd_bound": 1 + 1 / w, "euclidean": w, "segment_max_loss": 2.0,
             "fold_max_loss": 0.01} for w in (8, 16, 32) for _ in range(2)]
    fig = figures.sweep_figure(summary, rows, field="model.width", quantity="ngd", log_x=True)
    assert len(fig.data) == 2                                          # means + raw pair points
    np.testing.assert_allclose(fig.data[0].y, [1.125, 1.0625, 1.03125])
    np.testing.assert_allclose(fig.data[0].error_y.array, [0.01] * 3)
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.title.text == "width (hidden units)"
    fig = figures.sweep_figure(summary, None, field="model.width", quantity="max_loss")
    assert [tr.name for tr in fig.data] == ["direct segment", "fold-line"]
    assert fig.layout.yaxis.type == "log"
    cat = [{**s, "value": a} for s, a in zip(summary, ["relu", "tanh", "gelu"])]
    assert figures.sweep_figure(cat, field="model.activation").layout.xaxis.type == "category"
    with pytest.raises(ValueError, match="quantity"):
        figures.sweep_figure(summary, field="w", quantity="nope")


def test_theory_figures():
    widths = [8, 16, 32]
    fig = figures.connectivity_figure(widths, {2: [0.3, 0.8, 1.0]}, {2: [0.0, 0.0, 0.15]}, M=4)
    assert len(fig.data) == 2 and fig.data[1].line.dash == "dash"
    assert list(fig.data[0].y) == [0.3, 0.8, 1.0]
    norms = np.array([1.0, 0.9, 0.5, 0.01, 0.0])
    fig = figures.neuron_norms_figure(norms, teacher_neurons=4)
    assert fig.data[0].type == "bar" and list(fig.data[0].x) == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(fig.data[0].y, norms)
    fig = figures.mean_std_figure(widths, {"u": ([1.2, 1.1, 1.05], [0.1, 0.1, 0.1])}, x_title="m",
                                  y_title="U", title="t", ref_line=1.0)
    assert fig.layout.yaxis.title.text == "U" and fig.layout.shapes[0].y0 == 1.0


def test_history_and_paper_comparison():
    fig = figures.history_figure([1, 2, 3], {"J": [1.0, 0.5, 0.2]}, x_title="epoch", y_title="J",
                                 title="h")
    assert fig.layout.yaxis.type == "log" and list(fig.data[0].y) == [1.0, 0.5, 0.2]
    fig = figures.paper_comparison_figure(["a", "b"], [0.99, 0.98], [0.97, None], y_title="acc",
                                          title="t", percent=True)
    assert [tr.type for tr in fig.data] == ["scatter", "scatter"]         # dots, not bars
    assert fig.data[0].mode == "markers" and fig.layout.scattermode == "group"
    assert np.isnan(fig.data[1].y[1]) and fig.layout.yaxis.tickformat == ".0%"


def test_figure_data_long_form_records():
    fig = figures.path_profile_figure([profile("segment", T=3)])
    records = figures.figure_data(fig)
    assert len(records) == 6 and {"trace", "x", "y"} <= set(records[0])
    heat = figures.figure_data(figures.distance_matrix_figure(np.eye(2), ["a", "b"]))
    assert len(heat) == 4 and heat[1] == {"trace": "trace 0", "x": "b", "y": "a", "z": 0.0}


def test_builders_do_not_mutate_inputs():
    sl, prof = grid_slice(), profile("fold_line")
    before = (sl.train_loss.copy(), prof.train_loss.copy())
    figures.slice_figure(sl)
    figures.path_profile_figure([prof])
    np.testing.assert_array_equal(sl.train_loss, before[0])
    np.testing.assert_array_equal(prof.train_loss, before[1])


def test_figures_package_imports_neither_torch_nor_streamlit():
    import ast
    import pathlib
    import subprocess
    import sys
    code = ("import sys, landscape_core.figures; "
            "print(sorted(m for m in ('torch', 'streamlit') if m in sys.modules))")
    root = pathlib.Path(figures.__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=root)
    assert out.stdout.strip() == "[]"
    files = sorted(pathlib.Path(figures.__file__).parent.glob("*.py"))
    assert len(files) > 1
    for path in files:                          # nor does any module of the package, even lazily
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & {"torch", "streamlit"}, path.name


def test_figures_package_keeps_every_public_name():
    names = ["PALETTE", "CENTER_COLOR", "SEGMENT_COLOR", "FOLD_COLOR", "KIND_COLORS", "KIND_NAMES",
             "TEMPLATE", "minimum_color", "path_profile_figure", "matrix_figure",
             "distance_matrix_figure", "barrier_matrices_figure", "star_figure", "SLICE_KIND_TITLES",
             "OFF_PLANE_REL", "slice_extent", "is_off_plane", "slice_figure", "slice_surface_figure",
             "mean_std_figure", "ngd_tradeoff_figure", "SWEEP_SERIES", "SWEEP_Y_TITLES", "FIELD_LABELS",
             "field_label", "sweep_figure", "connectivity_figure", "neuron_norms_figure",
             "history_figure", "paper_comparison_figure", "figure_data"]
    assert [n for n in names if not hasattr(figures, n)] == []
    assert all(hasattr(figures, n) for n in figures.__all__)
