"""2-D pictures of points in parameter space (feet, held-out minima, a center).

Distances between minima live in thousands of dimensions; a 2-D picture can only approximate
them. Both methods start from the exact pairwise Euclidean distances and report how far the
picture is from them (``distortion``: the largest relative error of an embedded distance).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._validation import Options, validate_params


@dataclass(frozen=True)
class Embedding2D:
    xy: np.ndarray          # (n, 2)
    distances: np.ndarray   # (n, n) exact Euclidean distances in parameter space
    distortion: float       # max relative error of the embedded distances
    method: str


def classical_mds(distances: np.ndarray) -> np.ndarray:
    """Top-two classical MDS coordinates (= PCA of the points) from a distance matrix."""
    d = np.asarray(distances, float)
    n = len(d)
    J = np.eye(n) - 1.0 / n
    vals, vecs = np.linalg.eigh(-0.5 * J @ (d ** 2) @ J)
    top = np.argsort(vals)[::-1][:2]
    return vecs[:, top] * np.sqrt(np.maximum(vals[top], 0))


@validate_params(method=Options("MDS", "PCA"))
def embed_2d(points, method: str = "MDS") -> Embedding2D:
    """Embed points (n, D) in 2-D: metric MDS (SMACOF, started from classical MDS) or PCA.

    Examples
    --------
    >>> e = embed_2d(torch.eye(3), method="PCA")
    >>> e.xy.shape, round(e.distortion, 6)
    ((3, 2), 0.0)
    """
    pts = torch.as_tensor(points).double()
    dist = torch.cdist(pts, pts).numpy()
    xy = classical_mds(dist)
    if method == "MDS" and len(dist) > 2:
        from sklearn.manifold import MDS
        xy = MDS(n_components=2, metric="precomputed", init="classical_mds", max_iter=500,
                 random_state=0).fit_transform(dist)
    emb = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    off = ~np.eye(len(dist), dtype=bool)
    rel = np.abs(emb[off] - dist[off]) / np.maximum(dist[off], 1e-12)
    return Embedding2D(xy, dist, float(rel.max()) if rel.size else 0.0, method)
