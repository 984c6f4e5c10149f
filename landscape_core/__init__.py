"""Landscape Explorer core: minima, paths, barriers, slices, star centers and geodesic distances.

The paper this package implements: Lin, Li, Wu, "Exploring Neural Network Landscapes:
Star-Shaped and Geodesic Connectivity" (arXiv 2404.06391). See the README for a tour.

Names are imported lazily (PEP 562): ``from landscape_core import Evaluator`` loads the module
that defines it on first use, so ``import landscape_core.theory`` (numpy only) loads no torch.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# module -> the public names it defines (everything ``from landscape_core import ...`` offers)
_EXPORTS = {
    'config': ('DataSpec', 'ModelSpec', 'TrainSpec', 'Experiment', 'PRESETS', 'DEFAULT_PRESET', 'preset', 'spec_dict', 'spec_json', 'UserBuilder'),
    'models': ('build_model', 'count_parameters', 'has_batch_norm'),
    'params': ('ParamLayout', 'flatten', 'unflatten', 'recompute_bn_stats'),
    'evaluate': ('Evaluator', 'EvalResult', 'resolve_device'),
    'cache': ('DiskCache',),
    'checkpoints': ('CheckpointError', 'save_checkpoint', 'load_checkpoint', 'expected_layout'),
    'usermodel': ('UserModel', 'UserModelError', 'load_user_model', 'user_model'),
    'data': ('Dataset', 'DataNotFoundError', 'load_dataset'),
    'training': ('Minimum', 'TrainingDivergedError', 'TrainingStopped', 'train_minima', 'train_minimum', 'minimum_from_checkpoint', 'cached_minima'),
    'paths': ('BARRIER_DEFINITIONS', 'BARRIER_GROUPS', 'PathProfile', 'barrier_metrics', 'linear_path', 'fold_line_path', 'polygonal_path', 'bezier_path', 'path_points', 'fold_line_point'),
    'slices': ('Plane', 'Slice2D', 'plane_slice', 'plane_through', 'three_model_slice', 'random_directions'),
    'center': ('Center', 'CenterSpec', 'center_for_minima', 'find_center'),
    'curves': ('Curve', 'fit_curve'),
    'star': ('StarReport', 'star_report'),
    'geodesic': ('NGDEstimate', 'ShortestPath', 'SliceGeodesic', 'ngd_estimate', 'ngd_upper_bound', 'shortest_path', 'slice_geodesic'),
    'sweeps': ('SweepResult', 'sweep', 'width_sweep'),
    'permutation': ('PermutationSpec', 'Alignment', 'permutation_spec', 'apply_permutation', 'permute_buffers',
                    'weight_matching', 'activation_matching', 'repair', 'repair_path', 'aligned_minimum',
                    'align_pair', 'align_feet', 'compare_star_centers', 'pair_profiles'),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
_SUBMODULES = ("theory",)

__all__ = [name for names in _EXPORTS.values() for name in names] + list(_SUBMODULES)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value            # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
