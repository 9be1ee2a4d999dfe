"""Sprites with known factors: dSprites (Matthey et al. 2017) drawn with NumPy.

The factors and their values are the original's, and so is the order of the images: every
combination once, row-major over (shape, scale, orientation, posX, posY):

    shape         3   square, ellipse, heart
    scale         6   linspace(0.5, 1, 6)
    orientation  40   linspace(0, 2 pi, 40), radians counter-clockwise (0 and 2 pi draw alike,
                      and so do the symmetries of the square and the ellipse, as in the original)
    posX         32   linspace(0, 1, 32), left to right
    posY         32   linspace(0, 1, 32), top to bottom
737,280 binary images of 64x64 pixels. The drawing is ours (DeepMind did not publish theirs): a
pixel is on when its centre lies inside the shape. At scale 1 a shape spans 0.32 of the image
side (``HALF_SIZE``), the square a square of that side, the ellipse its width and half its
height, the heart the curve (x^2 + y^2 - 1)^3 <= x^2 y^3 fitted into that square; the centre
moves over [0.23, 0.77] of the side (``MARGIN``), so every rotation stays inside the image.

Two data sets (``npvae train --dataset``), each split at random (seed 0) into a test set of a
tenth of the images, at most 10,000, and a training set of the rest:
- ``sprites``, CPU-sized: every 4th orientation and every 2nd position of each axis
  (3 x 6 x 10 x 16 x 16 = 46,080 images), drawn at 64x64 and averaged over 2x2 blocks to
  32x32 grey levels (multiples of 1/4); float32, 190 MB.
- ``sprites-full``: all 737,280 at 64x64, kept as uint8 0/1 pixels (3 GB; 12 GB would be
  float32): ``npvae.fit`` turns each batch into floats as it gathers it.
With ``--data-dir``, the images come from DeepMind's ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64
.npz`` instead (a folder holding it, or the file): every image of the file on the chosen grid.

Each ``Dataset`` carries its factors: ``factors_train`` and ``factors_test`` (N, 5), the class
(index) of each factor, in the original's numbering (orientation 0, 4, 8, ... on the CPU grid).
The labels ``y`` are the shapes.
"""

import warnings
from pathlib import Path

import numpy as np

from .dataset import READ_ERRORS, DataError, Dataset

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1, 6)
ORIENTATIONS = np.linspace(0, 2 * np.pi, 40)
POSITIONS = np.linspace(0, 1, 32)
SIDE = 64  # pixels of the original images
HALF_SIZE = 0.16  # half the span of a shape at scale 1, as a fraction of the image side
MARGIN = 0.23  # the centre moves over [MARGIN, 1 - MARGIN]: > sqrt(2) HALF_SIZE
ELLIPSE_ASPECT = 0.5  # its height over its width
GRID_STEPS = {"sprites": (1, 1, 4, 2, 2), "sprites-full": (1, 1, 1, 1, 1)}
POOL = {"sprites": 2, "sprites-full": 1}  # 2x2 blocks averaged: 32x32
FILE_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
MAX_TEST = 10_000
CHUNK = 512  # images drawn at a time (about 100 MB of work arrays)


def grid_factors(steps=(1, 1, 1, 1, 1)):
    """The classes of every combination on the grid that takes every ``steps[f]``-th value of
    factor f, row-major (the original's order). Shapes: -> (N, 5) int64."""
    axes = [np.arange(0, size, step) for size, step in zip(FACTOR_SIZES, steps)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1).astype(np.int64)


def draw(factors, side=SIDE):
    """Binary images of the sprites with these factor classes: (N, 5) -> (N, side * side) uint8.

    For each pixel centre p (in units of the image side, y pointing up), the shape's own
    coordinates are (u, v) = R(-angle) (p - centre) / (HALF_SIZE * scale); the pixel is on when
    (u, v) lies in the shape: max(|u|, |v|) <= 1 (square), u^2 + (v / 0.5)^2 <= 1 (ellipse),
    (a^2 + b^2 - 1)^3 <= a^2 b^3 with a = 1.14 u, b = 1.14 v + 0.12 (heart). Every shape lies
    within sqrt(2) HALF_SIZE of its centre, so only a window of pixels around it is tested.
    """
    factors = np.asarray(factors)
    n = len(factors)
    shape, scale, angle = factors[:, 0], SCALES[factors[:, 1]], ORIENTATIONS[factors[:, 2]]
    cx = MARGIN + (1 - 2 * MARGIN) * POSITIONS[factors[:, 3]]  # (N,), in image sides
    cy = MARGIN + (1 - 2 * MARGIN) * POSITIONS[factors[:, 4]]
    half = int(np.ceil(np.sqrt(2) * HALF_SIZE * side)) + 2  # pixels, centre to window edge
    window = np.arange(2 * half)
    col0 = np.floor(cx * side).astype(np.int64) - half  # (N,): the window's first column
    row0 = np.floor(cy * side).astype(np.int64) - half
    size = (HALF_SIZE * scale)[:, None]
    dx = ((col0[:, None] + window + 0.5) / side - cx[:, None]) / size  # (N, W): rightwards
    dy = (cy[:, None] - (row0[:, None] + window + 0.5) / side) / size  # (N, W): upwards
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = cos * dx[:, None, :] + sin * dy[:, :, None]  # (N, W, W): [image, row, column]
    v = cos * dy[:, :, None] - sin * dx[:, None, :]
    inside = np.empty(u.shape, dtype=bool)
    square, ellipse, heart = (shape == 0), (shape == 1), (shape == 2)
    inside[square] = np.maximum(np.abs(u[square]), np.abs(v[square])) <= 1
    inside[ellipse] = u[ellipse] ** 2 + (v[ellipse] / ELLIPSE_ASPECT) ** 2 <= 1
    a, b = 1.14 * u[heart], 1.14 * v[heart] + 0.12
    inside[heart] = (a * a + b * b - 1) ** 3 <= a * a * b ** 3
    canvas = np.zeros((n, side + 2 * half, side + 2 * half), dtype=np.uint8)  # a margin of half
    rows = (row0 + half)[:, None, None] + window[None, :, None]
    cols = (col0 + half)[:, None, None] + window[None, None, :]
    canvas[np.arange(n)[:, None, None], rows, cols] = inside
    return canvas[:, half:half + side, half:half + side].reshape(n, side * side)


def pool(images, side, block):
    """Average over ``block`` x ``block`` pixels: (N, side^2) -> (N, (side / block)^2) float32."""
    if block == 1:
        return images
    n, small = len(images), side // block
    blocks = images.reshape(n, small, block, small, block)
    return blocks.mean(axis=(2, 4), dtype=np.float32).reshape(n, small * small)


def read_deepmind(path):
    """DeepMind's dsprites .npz, read without pickle: images (N, 4096) uint8 0/1 and the factor
    classes (N, 5) (its ``latents_classes`` without the colour). ``path``: the file, or a
    folder holding it. Every array is checked (dtype, shape, values) as the MNIST files are:
    DataError says what is wrong."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise DataError(f"--data-dir: no {FILE_NAME} at {path.parent} (DeepMind's dSprites file; "
                        "without --data-dir, npvae draws the sprites itself)")
    try:
        with open(path, "rb") as file:
            archive = np.load(file, allow_pickle=False)
            if not hasattr(archive, "files"):
                raise DataError(f"{path}: one array (as np.save writes), not an .npz archive "
                                "of imgs, latents_classes and latents_values")
            with archive:
                missing = [key for key in KEYS if key not in archive.files]
                if missing:
                    raise DataError(f"{path}: no {', '.join(missing)} in the archive; a dSprites "
                                    f"file holds {', '.join(KEYS)}")
                images, classes, values = (archive[key] for key in KEYS)
    except MemoryError:
        raise DataError(f"{path}: its arrays claim more memory than this machine has (a corrupt "
                        "header, or not a dSprites file)") from None
    except READ_ERRORS as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"{path}: not a readable dSprites file ({type(error).__name__}: "
                        f"{error})") from None
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or len(images) == 0 \
            or classes.shape != (len(images), 6) or values.shape != (len(images), 6):
        raise DataError(f"{path}: expected imgs (N, 64, 64), latents_classes and latents_values "
                        f"(N, 6) with N > 0; got {images.shape}, {classes.shape}, {values.shape}")
    check_pixels(path, images)
    return (images.reshape(len(images), SIDE * SIDE).astype(np.uint8, copy=False),
            factor_classes(path, classes))


KEYS = ("imgs", "latents_classes", "latents_values")


def check_pixels(path, images):
    """DataError unless every pixel is 0 or 1 (a dSprites image is binary), checked in chunks
    of images: a file of every sprite holds 3 GB."""
    if images.dtype.kind not in "biuf":
        raise DataError(f"{path}: imgs must hold 0/1 pixels as numbers; got dtype {images.dtype}")
    for start in range(0, len(images), CHUNK):
        chunk = images[start:start + CHUNK]
        if images.dtype.kind in "bu":
            bad = chunk > 1 if chunk.max() > 1 else None
        else:
            ok = (chunk == 0) | (chunk == 1)
            bad = None if ok.all() else ~ok
        if bad is not None:
            where = np.argwhere(bad)[0]
            raise DataError(f"{path}: imgs must hold 0/1 pixels (dSprites' are binary); image "
                            f"{start + where[0]} holds {chunk[tuple(where)]}")


def factor_classes(path, classes):
    """The factor classes (N, 5) int64 of ``latents_classes`` (N, 6): DataError unless they are
    whole numbers, the colour 0 and each factor within its size."""
    if classes.dtype.kind not in "iuf":
        raise DataError(f"{path}: latents_classes must hold class indices, whole numbers; got "
                        f"dtype {classes.dtype}")
    if classes.dtype.kind == "f":
        whole = np.isfinite(classes) & (classes == np.round(classes))
        if not whole.all():
            raise DataError(f"{path}: latents_classes must hold class indices, whole numbers; "
                            f"got {classes[~whole][0]}")
    for column, (name, size) in enumerate(zip(("color", *FACTOR_NAMES), (1, *FACTOR_SIZES))):
        values = classes[:, column]
        outside = (values < 0) | (values >= size)
        if outside.any():
            raise DataError(f"{path}: latents_classes' {name} column holds {values[outside][0]}; "
                            f"dSprites' {name} classes are 0 to {size - 1}")
    return classes[:, 1:].astype(np.int64)


def split(n, random_state=0):
    """Indices (sorted) of the test set, a tenth of n (at most 10,000), and of the rest."""
    if n < 2:
        raise DataError(f"a sprites data set needs at least 2 images to split; got {n}")
    order = np.random.default_rng(random_state).permutation(n)
    n_test = min(MAX_TEST, max(1, n // 10))
    return np.sort(order[:n_test]), np.sort(order[n_test:])


def load_sprites(name="sprites", data_dir=None):
    """The data set ``name`` ("sprites" or "sprites-full"), drawn, or from DeepMind's file in
    ``data_dir``: a ``Dataset`` with factors (see the module docstring)."""
    if name not in GRID_STEPS:
        raise DataError(f"unknown sprites data set {name!r}; expected one of {list(GRID_STEPS)}")
    steps, block = GRID_STEPS[name], POOL[name]
    if data_dir is None:
        factors, images = grid_factors(steps), None
    else:
        images, factors = read_deepmind(data_dir)
        keep = np.flatnonzero((factors % steps == 0).all(axis=1))
        if len(keep) < len(factors):
            where = f"{data_dir}: {len(factors) - len(keep):,} of its {len(factors):,} images"
            if len(keep) < 2:
                raise DataError(f"{where} lie off the {name} grid, which leaves {len(keep)}: too "
                                f"few to train on (--dataset sprites-full takes every image)")
            warnings.warn(f"{where} lie off the {name} grid and are left out "
                          "(--dataset sprites-full takes every image)", stacklevel=2)
        order = keep[np.argsort(np.ravel_multi_index(factors[keep].T, FACTOR_SIZES))]
        if not np.array_equal(order, np.arange(len(images))):  # (no 3 GB copy of the original)
            images = images[order]
        factors = factors[order]
    test, train = split(len(factors))
    side = SIDE // block
    parts = []
    for rows in (train, test):
        X = np.empty((len(rows), side * side), np.uint8 if block == 1 else np.float32)
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            drawn = draw(factors[chunk]) if images is None else images[chunk]
            X[start:start + len(chunk)] = pool(drawn, SIDE, block)
        parts.append(X)
    return Dataset(parts[0], factors[train, 0].copy(), parts[1], factors[test, 0].copy(), name,
                   (side, side), factors[train], factors[test], FACTOR_NAMES)
