"""Geometry: mesh I/O with unit checks, the grid convention, SDF grids and marching cubes."""

from bghop.geometry.grid import GridSpec, grid_coordinates, sample_grid
from bghop.geometry.mesh_io import (
    MAX_EXTENT_M,
    MIN_CLOSURE,
    MIN_EXTENT_M,
    MeshError,
    check_closed,
    load_mesh,
    save_mesh_atomic,
)
from bghop.geometry.sdf import (
    INSIDE_WINDING_NUMBER,
    SDFError,
    mesh_to_sdf_grid,
    sdf_at_points,
    sdf_grid_to_mesh,
    surface_closure,
)

__all__ = [
    "GridSpec",
    "grid_coordinates",
    "sample_grid",
    "MeshError",
    "MAX_EXTENT_M",
    "MIN_EXTENT_M",
    "MIN_CLOSURE",
    "load_mesh",
    "check_closed",
    "save_mesh_atomic",
    "SDFError",
    "INSIDE_WINDING_NUMBER",
    "mesh_to_sdf_grid",
    "sdf_at_points",
    "sdf_grid_to_mesh",
    "surface_closure",
]
