"""Damaged and hand-edited checkpoints: each is read right or refused in one line."""

import json

import numpy as np
import pytest
from conftest import assert_one_line_error, flipped

from npvae import VAE, Adam
from npvae.models.registry import load_model
from npvae.nn.checkpoint import CheckpointError, save_checkpoint


def edit_meta(path, edit):
    with np.load(path) as f:
        arrays = {key: f[key] for key in f.files}
    meta = json.loads(str(arrays["meta"]))
    edit(meta, arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)



def test_every_single_bit_flip_of_a_checkpoint_loads_right_or_is_refused(tmp_path):
    path = tmp_path / "checkpoint.npz"
    model = VAE(12, (6,), 2, random_state=0)
    save_checkpoint(path, model, Adam(model.params), 1, [{"epoch": 1}], {"dataset": "x"})
    raw, rng, refused = path.read_bytes(), np.random.default_rng(0), 0
    for _ in range(150):
        path.write_bytes(flipped(raw, rng))
        try:
            loaded, meta = load_model(path)
        except CheckpointError:
            refused += 1
            continue
        assert np.array_equal(loaded.params.vector, model.params.vector) and meta["epoch"] == 1
    assert refused > 50  # most flips land in the compressed data and are caught


@pytest.mark.parametrize("damage, fragment", [
    (lambda path: np.save(open(path, "wb"), np.arange(3)), "not a .npz archive"),
    (lambda path: path.write_text("hello"), "not a .npz archive"),
    ("no epoch", "lacks a valid 'epoch'"),
])
def test_a_damaged_checkpoint_is_one_line(run, cli, tmp_path, damage, fragment):
    folder = tmp_path / "copy"
    folder.mkdir()
    path = folder / "checkpoint.npz"
    if damage == "no epoch":
        with np.load(run / "checkpoint.npz") as f:
            arrays = dict(f)
        meta = json.loads(str(arrays["meta"]))
        del meta["epoch"]
        arrays["meta"] = np.array(json.dumps(meta))
        np.savez(path, **arrays)
    else:
        damage(path)
    for argv in (["train", "--out", str(folder), "--resume", "--epochs", "3"],
                 ["evaluate", "--run", str(folder)]):
        status, _, err = cli(*argv)
        assert_one_line_error(status, err, fragment)
        assert "allow_pickle" not in err


@pytest.mark.parametrize("edit, command, fragment", [
    (lambda m, a: m["train"].update(data_dir=3), "evaluate", "data_dir = 3"),
    (lambda m, a: m["train"].update(hidden="16"), "resume", "hidden = '16'"),
    (lambda m, a: m["train"].update(lr="fast"), "resume", "lr = 'fast'"),
    (lambda m, a: m.update(train=None), "sample", "holds no training options"),
    (lambda m, a: m["train"].update(image_shape="ab"), "sample", "image_shape = 'ab'"),
    (lambda m, a: m["train"].update(image_shape=[3, 3]), "sample", "image_shape = (3, 3)"),
    (lambda m, a: m.update(history=[{}]), "resume", "its metadata is damaged"),
    (lambda m, a: a.update({"optimizer.t": np.array(-5)}), "resume", "step count t"),
    (lambda m, a: a.update({"optimizer.v": -a["optimizer.v"] - 1}), "resume", "v must hold"),
    (lambda m, a: a["optimizer.m"].__setitem__(3, np.nan), "resume",
     "its optimizer.m holds NaN or inf"),
    (lambda m, a: m["history"].pop(), "resume", "it says 2 epochs are done but its history holds "
                                                "the records of epochs [1]"),
    (lambda m, a: m["history"][1].update(epoch=3), "evaluate", "the records of epochs [1, 3]"),
    (lambda m, a: a.update({"fit.last_params": a["params"][:-1]}), "resume",
     "its last epoch's weights are"),
    (lambda m, a: a.update({"fit.last_params": np.full_like(a["params"], np.nan)}), "resume",
     "its fit.last_params holds NaN or inf"),
    (lambda m, a: m["train"].update(dtype="foo"), "resume",
     "saved training settings are damaged (--dtype must be float32 or float64; got 'foo')"),
    (lambda m, a: a.update({"fit.untrained_loss": np.ones(3)}), "resume",
     "its untrained_loss is (3,) where one number belongs"),
    (lambda m, a: m["history"][0].update(beta="one"), "resume", "its metadata is damaged"),
    (lambda m, a: a.update(params=a["params"][:-1]), "resume-nothing", "do not match the "
                                                                           "model's"),
])
def test_hand_edited_metadata_is_one_line(run, cli, tmp_path, edit, command, fragment):
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("checkpoint.npz", "config.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    edit_meta(copy / "checkpoint.npz", edit)
    epochs = "2" if command == "resume-nothing" else "3"  # nothing to train: still checked
    argv = (["train", "--out", str(copy), "--resume", "--epochs", epochs, "--quiet"]
            if command.startswith("resume") else [command, "--run", str(copy)])
    status, _, err = cli(*argv)
    assert_one_line_error(status, err, fragment)


def test_a_checkpoint_of_nan_parameters_is_refused(run, cli, tmp_path):
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("checkpoint.npz", "config.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    edit_meta(copy / "checkpoint.npz", lambda m, a: a["params"].__setitem__(0, np.nan))
    for argv in (["evaluate", "--run", str(copy)], ["sample", "--run", str(copy)]):
        assert_one_line_error(*cli(*argv)[::2], "hold NaN or inf")


def test_a_factorvae_whose_discriminator_is_nan_is_refused(tmp_path):
    from npvae import FactorVAE, load

    path = tmp_path / "model.npz"
    FactorVAE(16, (8,), 2, discriminator_hidden=(4,), random_state=0).save(path)

    def nan_discriminator(meta, arrays):
        arrays["model.discriminator.params"][2] = np.nan

    load(path)  # as saved: it loads
    edit_meta(path, nan_discriminator)
    with pytest.raises(CheckpointError, match=r"its model\.discriminator\.params holds NaN"):
        load(path)


def test_a_model_file_too_big_for_memory_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "model.npz"
    VAE(12, (6,), 2, random_state=0).save(path)
    edit_meta(path, lambda meta, arrays: meta["model"].update(hidden_dims=[10**6, 10**6]))
    with pytest.raises(CheckpointError, match=r"bad model configuration \(a model of "
                       r"2,000,034,000,016 parameters needs [0-9,]+ bytes \([0-9,.]+ GiB\) to be "
                       r"built; this machine has [0-9,.]+ GiB available\)"):
        load_model(path)


def test_a_model_of_nan_parameters_is_not_saved(tmp_path):
    model = VAE(12, (6,), 2, random_state=0)
    model.params.vector[3] = np.nan
    with pytest.raises(ValueError, match="params hold NaN or inf"):
        model.save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()


def test_finite_but_unusable_parameters_are_refused(tmp_path):
    path = tmp_path / "model.npz"
    VAE(12, (6,), 2, random_state=0).save(path)
    with np.load(path) as f:
        arrays = dict(f)
    np.savez(path, **{**arrays, "params": np.full_like(arrays["params"], 3e38)})
    with pytest.raises(CheckpointError, match="finite but unusable"):
        load_model(path)


def test_a_random_state_out_of_range_is_a_damaged_file(tmp_path):
    path = tmp_path / "model.npz"
    VAE(12, (6,), 2, random_state=0).save(path)
    edit_meta(path, lambda meta, arrays: meta["rng"]["state"].update(state=2**200))
    with pytest.raises(CheckpointError, match="random generator state is damaged"):
        load_model(path)


def test_saving_to_a_folder_or_a_non_path_is_one_clear_error(tmp_path):
    model = VAE(12, (6,), 2, random_state=0)
    with pytest.raises(IsADirectoryError, match="is a folder: name a file to write"):
        model.save(tmp_path)
    with pytest.raises(TypeError, match="a file path must be a str or a path-like object"):
        model.save(b"model.npz")
    assert list(tmp_path.iterdir()) == []


OLDER_KEYS = ("objective", "k", "kl", "gradient")  # a model's config before the IWAE objective


def test_a_model_file_and_a_run_saved_before_the_iwae_objective_still_load(run, cli, tmp_path):
    path = tmp_path / "model.npz"
    model = VAE(12, (6,), 2, random_state=0)
    model.save(path)
    edit_meta(path, lambda m, a: [m["model"].pop(key) for key in OLDER_KEYS])
    loaded, _ = load_model(path)
    assert loaded.objective == "elbo" and np.array_equal(loaded.params.vector,
                                                         model.params.vector)
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("checkpoint.npz", "config.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    edit_meta(copy / "checkpoint.npz", lambda m, a: [m[part].pop(key) for key in OLDER_KEYS
                                                     for part in ("model", "train")])
    for argv in (["evaluate", "--run", str(copy)], ["sample", "--run", str(copy)],
                 ["train", "--out", str(copy), "--resume", "--epochs", "3", "--quiet"]):
        status, _, err = cli(*argv)
        assert status == 0, err


def test_a_run_folder_given_for_a_file_says_which_file(run):
    with pytest.raises(CheckpointError, match="is a run folder: name its file, .*checkpoint.npz"):
        load_model(run)
