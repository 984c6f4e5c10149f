"""Landscape Explorer core: minima, paths, barriers, slices, star centers and geodesic distances.

The paper this package implements: Lin, Li, Wu, "Exploring Neural Network Landscapes:
Star-Shaped and Geodesic Connectivity" (arXiv 2404.06391). See the README for a tour.
"""
from .config import (DataSpec, ModelSpec, TrainSpec, Experiment, PRESETS, DEFAULT_PRESET, preset,
                     spec_dict, spec_json)
from .models import build_model, count_parameters, has_batch_norm
from .params import ParamLayout, flatten, unflatten, recompute_bn_stats
from .evaluate import Evaluator, EvalResult, resolve_device
from .cache import DiskCache
from .checkpoints import CheckpointError, save_checkpoint, load_checkpoint
from .data import Dataset, DataNotFoundError, load_dataset
from .training import (Minimum, TrainingDivergedError, TrainingStopped, train_minima,
                       train_minimum, minimum_from_checkpoint, cached_minima)
from .paths import (BARRIER_DEFINITIONS, PathProfile, barrier_metrics, linear_path, fold_line_path,
                    polygonal_path, bezier_path, path_points, fold_line_point)
from .slices import Plane, Slice2D, plane_slice, plane_through, three_model_slice, random_directions
from .center import Center, CenterSpec, Curve, center_for_minima, find_center, fit_curve
from .star import StarReport, star_report
from .geodesic import (NGDEstimate, ShortestPath, SliceGeodesic, ngd_estimate, ngd_upper_bound,
                       shortest_path, slice_geodesic)
from .sweeps import SweepResult, sweep, width_sweep
from . import theory

__version__ = "0.1.0"

__all__ = [
    "DataSpec", "ModelSpec", "TrainSpec", "Experiment", "PRESETS", "DEFAULT_PRESET", "preset",
    "spec_dict", "spec_json", "build_model", "count_parameters", "has_batch_norm", "ParamLayout",
    "flatten", "unflatten", "recompute_bn_stats", "Evaluator", "EvalResult", "resolve_device",
    "DiskCache", "CheckpointError", "save_checkpoint", "load_checkpoint", "Dataset",
    "DataNotFoundError", "load_dataset", "Minimum", "TrainingDivergedError", "TrainingStopped",
    "train_minima", "train_minimum", "minimum_from_checkpoint", "cached_minima",
    "BARRIER_DEFINITIONS", "PathProfile", "barrier_metrics", "linear_path", "fold_line_path",
    "polygonal_path", "bezier_path", "path_points", "fold_line_point", "Plane", "Slice2D",
    "plane_slice", "plane_through", "three_model_slice", "random_directions",
    "Center", "CenterSpec", "Curve", "center_for_minima", "find_center", "fit_curve", "StarReport",
    "star_report", "NGDEstimate", "ShortestPath", "SliceGeodesic", "ngd_estimate", "ngd_upper_bound",
    "shortest_path", "slice_geodesic", "SweepResult", "sweep", "width_sweep", "theory",
]
