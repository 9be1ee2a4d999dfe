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

import json
from pathlib import Path

import numpy as np

from ..utils.files import save_npz_atomically

FORMAT = "npvae-checkpoint-2"  # 2: Adam keeps its moments divided by (1 - beta)


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match the model."""


def first_not_finite(model, optimizer=None):
    """The name of the first array a checkpoint of ``model`` (and ``optimizer``) would hold
    that is not finite ("params", "optimizer.v", "model.discriminator.params", ...), or None.
    A file holding one is refused on loading, so it is never written."""
    arrays = {"params": model.params.vector}
    arrays.update({f"optimizer.{key}": value
                   for key, value in (optimizer.state_dict() if optimizer else {}).items()})
    arrays.update({f"model.{key}": value for key, value in model_state_arrays(model).items()})
    return not_finite(arrays)


def not_finite(arrays):
    """The key of the first float array of the dict ``arrays`` holding NaN or inf, or None."""
    for key, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            return key
    return None


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
    for key, value in model_state_arrays(model).items():  # FactorVAE: its discriminator
        arrays[f"model.{key}"] = np.asarray(value)  # and its Adam
    for key, value in (fit_arrays or {}).items():
        arrays[f"fit.{key}"] = np.asarray(value)
    save_npz_atomically(path, **arrays)


def save_model(path, model):
    """Save a model alone (its config, parameters, Generator and any state arrays), atomically,
    as a .npz that ``npvae.load`` reads: no optimizer, epoch or history. ValueError if the
    model holds NaN or inf (a file ``npvae.load`` would refuse)."""
    bad = first_not_finite(model)
    if bad is not None:
        raise ValueError(f"the model's {bad} hold NaN or inf (a diverged model?): not saved, "
                         "since npvae.load would refuse the file")
    meta = {"format": FORMAT, "content": "model", "model": model.config(),
            "rng": model.rng.bit_generator.state}
    arrays = {"params": model.params.vector, "meta": np.array(json.dumps(meta))}
    for key, value in model_state_arrays(model).items():
        arrays[f"model.{key}"] = np.asarray(value)
    save_npz_atomically(path, **arrays)


META_TYPES = {"format": str, "model": dict, "optimizer": str, "epoch": int, "history": list,
              "rng": dict}  # what every checkpoint's metadata holds ("train" may be None)
# Model options newer than the format, and the value a checkpoint without them means
ADDED_LATER = {"decoder_hidden_dims": None, "free_bits": 0.0, "objective": "elbo", "k": 1,
               "kl": "analytic", "gradient": "reparam"}


def read_checkpoint(path):
    """Read and validate a checkpoint: returns (meta dict, params array, optimizer state dict).

    Anything wrong with the file (not a .npz archive, damaged compressed data, missing or
    mistyped entries) is a CheckpointError that names the file."""
    path = Path(path)
    if not path.is_file():
        inside = path / "checkpoint.npz"
        raise CheckpointError(f"{path} is a run folder: name its file, {inside}"
                              if inside.is_file() else f"no checkpoint at {path}")
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
    _check_consistent(path, meta, params, arrays)
    return meta, params, optimizer_state


def _check_consistent(path, meta, params, arrays):
    """CheckpointError unless the file agrees with itself: every stored number finite, one
    history record for each epoch done (numbered 1, 2, ...), and the last epoch's weights that
    early stopping keeps beside the best shaped as the parameters."""
    bad = not_finite(arrays)
    if bad is not None:
        raise CheckpointError(f"{path}: its {bad} holds NaN or inf (damaged, or saved from a "
                              "diverged model)")
    numbers = [record["epoch"] for record in meta["history"]]
    if numbers != list(range(1, meta["epoch"] + 1)):
        raise CheckpointError(f"{path}: it says {meta['epoch']} epochs are done but its history "
                              f"holds the records of epochs {numbers} (damaged or edited by hand)")
    untrained = meta["fit_arrays"].get("untrained_loss")
    if untrained is not None and (untrained.shape != () or untrained.dtype.kind not in "fiu"
                                  or not np.isfinite(untrained)):
        raise CheckpointError(f"{path}: its untrained_loss is {untrained.shape} where one number "
                              "belongs (damaged or edited by hand)")
    last = meta["fit_arrays"].get("last_params")
    if last is not None and (last.shape != params.shape or last.dtype != params.dtype):
        raise CheckpointError(f"{path}: its last epoch's weights are {last.shape} {last.dtype}, "
                              f"its parameters {params.shape} {params.dtype} (damaged)")


def _is_record(record):
    """An epoch's record of fit's history: a dict with its epoch and training losses."""
    return isinstance(record, dict) and isinstance(record.get("epoch"), int) and all(
        isinstance(record.get(key), (int, float)) and not isinstance(record.get(key), bool)
        for key in ("train_loss", "train_reconstruction", "train_kl")) and all(
        value is None or isinstance(value, (int, float)) and not isinstance(value, bool)
        for value in record.values())  # every figure of an epoch is a number


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
    if hasattr(model, "load_state_arrays") or meta["model_arrays"]:  # FactorVAE
        try:
            model.load_state_arrays(meta["model_arrays"])
        except (AttributeError, ValueError) as error:
            raise CheckpointError(f"{path}: {error}") from None
    try:
        model.rng.bit_generator.state = meta["rng"]
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise CheckpointError(f"{path}: its random generator state is damaged ({error})") from None
    return meta


def model_state_arrays(model):
    """What a model keeps beyond its parameter vector (``CoupledVAE.state_arrays``): {} for a
    VAE."""
    return model.state_arrays() if hasattr(model, "state_arrays") else {}


