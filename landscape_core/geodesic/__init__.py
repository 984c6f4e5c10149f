"""Normalised geodesic distance (NGD, the paper's Definition 4): upper bounds from paths.

NGD G(theta_1, theta_2) = (length of the shortest path inside the minima set) / ||theta_1 -
theta_2||. Every low-loss path gives an UPPER bound; three estimators, tightest last:

- ``ngd_upper_bound`` / ``ngd_estimate``: the paper's Eq. 8 through a center (2-piece path);
- ``shortest_path``: a k-piece path whose pivots minimise the squared length under a hinge
  penalty on the loss above a level epsilon (spec B.6 proposal), started from the fold-line;
- ``slice_geodesic``: fast marching on a 2-D loss slice (shortest path inside the slice).

A bound holds only for the loss level it was checked at: every result reports the path's
maximum loss (and accuracy) with it.

Modules: ``bound`` (Eq. 8 and the fold-line estimate), ``shortest`` (k-piece path shortening),
``fast_marching`` (geodesics on a 2-D slice).
"""
from .bound import NGDEstimate, ngd_estimate, ngd_upper_bound
from .fast_marching import SliceGeodesic, bottleneck_level, slice_geodesic
from .shortest import ShortestPath, shortest_path

__all__ = ["NGDEstimate", "ngd_estimate", "ngd_upper_bound", "ShortestPath", "shortest_path",
           "SliceGeodesic", "slice_geodesic", "bottleneck_level"]
