"""2-D embeddings of points from their exact distances."""
import numpy as np
import pytest
import torch

from landscape_core.embedding import embed_2d


def test_planar_points_embed_exactly_up_to_isometry():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(50, 2, generator=g, dtype=torch.float64))[0]   # a 2-D plane in R^50
    coords = torch.randn(6, 2, generator=g, dtype=torch.float64)
    pts = coords @ basis.T
    for method in ("PCA", "MDS"):
        e = embed_2d(pts, method)
        assert e.distortion < 1e-3
        d = np.linalg.norm(e.xy[:, None] - e.xy[None], axis=-1)
        np.testing.assert_allclose(d, torch.cdist(coords, coords).numpy(), atol=1e-3)


def test_high_dimensional_points_report_their_distortion():
    pts = torch.eye(5, dtype=torch.float64)          # a regular simplex cannot be drawn in 2-D
    e = embed_2d(pts, "PCA")
    assert e.distortion > 0.1
    with pytest.raises(ValueError, match="'method' parameter of embed_2d"):
        embed_2d(pts, "tsne")
