"""Checkpoints and model files: one .npz each, written atomically and read without pickle.

A checkpoint (``save_checkpoint``, after every epoch of ``fit``) holds what resuming needs; a
model file (``VAE.save``, ``save_model``) only the model. ``npvae.load`` reads either.

Layout of the .npz:
    params            (P,) the model's flat parameter vector: the model the run gives (with
                      early stopping, the best epoch's)
    optimizer.<key>   the optimizer's state (Adam: t, and its moments m, v divided by 1 - beta)
    model.<key>       what a model keeps beyond its parameters (FactorVAE: its discriminator)
    fit.last_params   with early stopping, the weights training goes on from (the last epoch's)
    meta              a 0-d string: JSON with the model's config, the Generator's state, and in a
                      checkpoint the training config, the epoch and the history
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .vae import VAE

FORMAT = "npvae-checkpoint-2"  # 2: Adam keeps its moments divided by (1 - beta)


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match the model."""


@contextlib.contextmanager
def atomic_file(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing; on success rename it into place, on any
    error (Ctrl-C too) delete it. A reader sees the old file or the complete new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a run file is for all to read
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask():
    """The process's umask (reading it means setting it; it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_npz_atomically(path, **arrays):
    """Write a compressed .npz through ``atomic_file``."""
    with atomic_file(path) as f:
        np.savez_compressed(f, **arrays)


def write_text_atomically(path, text):
    """Write a text file through ``atomic_file``."""
    with atomic_file(path, "w") as f:
        f.write(text)


def save_checkpoint(path, model, optimizer, epoch, history, train_config, params=None,
                    fit_arrays=None):
    """Save everything needed to resume training exactly after ``epoch`` completed epochs.
    ``params``: the parameter vector to save as the model's, if not ``model.params.vector``
    (early stopping: the best epoch's); ``fit_arrays``: more arrays for ``fit`` to resume from."""
    meta = {"format": FORMAT, "model": model.config(), "optimizer": type(optimizer).__name__,
            "epoch": int(epoch), "history": history, "train": train_config,
            "rng": model.rng.bit_generator.state}
    arrays = {"params": model.params.vector if params is None else params,
              "meta": np.array(json.dumps(meta))}
    for key, value in optimizer.state_dict().items():
        arrays[f"optimizer.{key}"] = np.asarray(value)
    for key, value in model_state_arrays(model).items():  # issue 17 hook: FactorVAE's
        arrays[f"model.{key}"] = np.asarray(value)  # discriminator and its Adam
    for key, value in (fit_arrays or {}).items():
        arrays[f"fit.{key}"] = np.asarray(value)
    save_npz_atomically(path, **arrays)


def save_model(path, model):
    """Save a model alone (its config, parameters, Generator and any state arrays), atomically,
    as a .npz that ``npvae.load`` reads: no optimizer, epoch or history."""
    meta = {"format": FORMAT, "content": "model", "model": model.config(),
            "rng": model.rng.bit_generator.state}
    arrays = {"params": model.params.vector, "meta": np.array(json.dumps(meta))}
    for key, value in model_state_arrays(model).items():
        arrays[f"model.{key}"] = np.asarray(value)
    save_npz_atomically(path, **arrays)


META_TYPES = {"format": str, "model": dict, "optimizer": str, "epoch": int, "history": list,
              "rng": dict}  # what every checkpoint's metadata holds ("train" may be None)
# Model options newer than the format, and the value a checkpoint without them means
ADDED_LATER = {"decoder_hidden_dims": None, "free_bits": 0.0}


def read_checkpoint(path):
    """Read and validate a checkpoint: returns (meta dict, params array, optimizer state dict).

    Anything wrong with the file (not a .npz archive, damaged compressed data, missing or
    mistyped entries) is a CheckpointError that names the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise CheckpointError(f"{path} is not an npvae checkpoint (not a .npz archive)")
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}  # (a damaged file is closed all the same)
        meta = json.loads(str(arrays.pop("meta")))
        params = arrays.pop("params")
    except Exception as error:  # any decode failure: zlib.error, BadZipFile, KeyError, ...
        raise CheckpointError(f"{path} is not a readable npvae checkpoint "
                              f"({type(error).__name__}: {error})") from None
    if not isinstance(meta, dict) or not str(meta.get("format")).startswith("npvae-checkpoint"):
        raise CheckpointError(f"{path} is not an npvae checkpoint (format {FORMAT} expected)")
    if meta["format"] != FORMAT:
        raise CheckpointError(f"{path} was written by another version of npvae (format "
                              f"{meta['format']}; this version reads {FORMAT})")
    if meta.get("content") == "model":  # a model file: a checkpoint of no training
        meta = {**meta, "optimizer": "", "epoch": 0, "history": [], "train": None}
    for key, kind in META_TYPES.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise CheckpointError(f"{path}: its metadata lacks a valid {key!r} (damaged or "
                                  "edited by hand)")
    if not (isinstance(meta.get("train"), dict) or meta.get("train") is None) or meta["epoch"] < 0 \
            or not all(_is_record(record) for record in meta["history"]):
        raise CheckpointError(f"{path}: its metadata is damaged (train, epoch or history)")
    if params.ndim != 1 or params.dtype not in (np.float32, np.float64):
        raise CheckpointError(f"{path}: its parameters are not a float vector")
    if not np.isfinite(params).all():
        raise CheckpointError(f"{path}: its parameters hold NaN or inf (damaged, or saved from a "
                              "diverged model)")
    optimizer_state = {key.split(".", 1)[1]: value for key, value in arrays.items()
                       if key.startswith("optimizer.")}
    for prefix in ("model", "fit"):  # meta["model_arrays"], meta["fit_arrays"] (not in the JSON)
        meta[f"{prefix}_arrays"] = {key.split(".", 1)[1]: value for key, value in arrays.items()
                                    if key.startswith(prefix + ".")}
    return meta, params, optimizer_state


def _is_record(record):
    """An epoch's record of fit's history: a dict with its epoch and training losses."""
    return isinstance(record, dict) and isinstance(record.get("epoch"), int) and all(
        isinstance(record.get(key), (int, float)) and not isinstance(record.get(key), bool)
        for key in ("train_loss", "train_reconstruction", "train_kl"))


def restore(model, optimizer, path):
    """Load a checkpoint into an existing model and optimizer; returns its meta dict.

    Refuses (CheckpointError) a checkpoint whose architecture, dtype or optimizer differ.
    """
    meta, params, optimizer_state = read_checkpoint(path)
    saved = {**ADDED_LATER, **meta["model"]}
    current = model.config()
    differ = [f"{key}: checkpoint {saved.get(key)!r}, model {current[key]!r}"
              for key in current if saved.get(key) != current[key]]
    if differ:
        raise CheckpointError(f"{path} does not match the model ({'; '.join(differ)})")
    if params.shape != model.params.vector.shape or params.dtype != model.params.vector.dtype:
        raise CheckpointError(f"{path}: parameters {params.shape} {params.dtype} do not match the "
                              f"model's {model.params.vector.shape} {model.params.vector.dtype}")
    if optimizer is not None:
        if meta.get("content") == "model":
            raise CheckpointError(f"{path} holds a model alone (model.save), not a training "
                                  "checkpoint to resume")
        if meta["optimizer"] != type(optimizer).__name__:
            raise CheckpointError(f"{path} holds {meta['optimizer']} state, not "
                                  f"{type(optimizer).__name__}")
        expected = optimizer.state_dict()
        if set(optimizer_state) != set(expected) or any(
                np.shape(optimizer_state[k]) != np.shape(expected[k]) for k in expected):
            raise CheckpointError(f"{path}: optimizer state does not match")
        try:
            optimizer.load_state_dict(optimizer_state)
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"{path}: its optimizer state is damaged ({error})") from None
    model.params.vector[...] = params
    if hasattr(model, "load_state_arrays") or meta["model_arrays"]:  # issue 17 hook
        try:
            model.load_state_arrays(meta["model_arrays"])
        except (AttributeError, ValueError) as error:
            raise CheckpointError(f"{path}: {error}") from None
    try:
        model.rng.bit_generator.state = meta["rng"]
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path}: its random generator state is damaged ({error})") from None
    return meta


def model_state_arrays(model):
    """What a model keeps beyond its parameter vector (``CoupledVAE.state_arrays``): {} for a
    VAE."""
    return model.state_arrays() if hasattr(model, "state_arrays") else {}


def model_from_config(config):
    """A new model of the class ``config["model"]`` names (a VAE if it names none), built from
    the rest of the config."""
    from .factorvae import FactorVAE
    from .tcvae import TCVAE

    config = dict(config)
    kind = config.pop("model", None)
    classes = {None: VAE, "tcvae": TCVAE, "factorvae": FactorVAE}
    if kind not in classes:
        raise ValueError(f"unknown model {kind!r}")
    if kind == "factorvae":  # files from before the option trained at the paper's 1e-4
        config.setdefault("discriminator_lr", 1e-4)
    return classes[kind](**config)


def load_model(path):
    """A new model (VAE, TCVAE or FactorVAE) with the architecture, parameters and Generator of
    a checkpoint or model file; (model, meta)."""
    meta, _, _ = read_checkpoint(path)
    try:
        model = model_from_config(meta["model"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: bad model configuration ({error})") from None
    meta = restore(model, None, path)
    return model, meta


def load(path):
    """The model saved at ``path`` (by ``model.save``, or a training checkpoint): a VAE, TCVAE
    or FactorVAE with its parameters and Generator. CheckpointError if it cannot be read."""
    return load_model(path)[0]
