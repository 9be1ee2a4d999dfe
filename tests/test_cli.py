import json
import subprocess
import sys
from urllib.error import URLError

import numpy as np
import pytest
from conftest import assert_one_line_error

import npvae
from npvae.cli.main import main
from npvae.data import load_digits_split, mnist
from npvae.data.mnist import write_idx

TRAIN = ["train", "--dataset", "digits", "--hidden", "32", "--latent-dim", "2", "--quiet"]



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "digits"
    assert main(TRAIN + ["--epochs", "3", "--out", str(folder)]) == 0
    return folder


def test_train_writes_a_run_folder(trained):
    for name in ("checkpoint.npz", "config.json", "history.json", "history.csv", "samples.png",
                 "reconstructions.png", "loss.png"):
        assert (trained / name).is_file(), name
    history = json.loads((trained / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert "test_loss" in history[-1] and "test_loss" not in history[0]  # once, at the end
    assert json.loads((trained / "config.json").read_text())["image_shape"] == [8, 8]


@pytest.mark.parametrize("command, files", [
    ("sample", ["samples.png"]), ("reconstruct", ["reconstructions.png"]),
    ("interpolate", ["interpolation.png"]), ("latent", ["latent.png", "manifold.png"]),
])
def test_each_command_draws_its_figure(trained, cli, command, files):
    for name in files:
        (trained / name).unlink(missing_ok=True)
    status, out, _ = cli(command, "--run", str(trained))
    assert status == 0 and "wrote" in out
    for name in files:
        assert (trained / name).stat().st_size > 1000


def test_evaluate_prints_the_test_elbo(trained, cli):
    status, out, _ = cli("evaluate", "--run", str(trained))
    history = json.loads((trained / "history.json").read_text())
    assert status == 0 and f"{history[-1]['test_loss']:.3f}" in out


def test_per_example_scores_and_latents_as_csv_and_npz(trained, cli, tmp_path):
    import csv
    status, out, _ = cli("evaluate", "--run", str(trained), "--iwae-k", "3", "--per-example",
                         str(tmp_path / "scores.csv"))
    assert status == 0 and "wrote" in out and "360 rows" in out
    with open(tmp_path / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "label", "neg_elbo", "reconstruction", "kl", "iwae_nll"]
    neg_elbo = np.array([float(r["neg_elbo"]) for r in rows])
    iwae = np.array([float(r["iwae_nll"]) for r in rows])
    assert f"test negative ELBO {neg_elbo.mean():.3f}" in out  # the rows' mean is the printed
    assert f"<= {iwae.mean():.3f}" in out
    status, out, _ = cli("latent", "--run", str(trained), "--per-example",
                         str(tmp_path / "latents.npz"))
    assert status == 0
    model, _ = npvae.models.registry.load_model(trained / "checkpoint.npz")
    X_test = load_digits_split().X_test
    mu, logvar = model.encode(X_test)
    with np.load(tmp_path / "latents.npz") as f:  # (allow_pickle is False by default)
        assert f.files == ["index", "label", "mu_0", "mu_1", "logvar_0", "logvar_1"]
        np.testing.assert_array_equal(np.column_stack([f["mu_0"], f["mu_1"]]), mu)
        np.testing.assert_array_equal(f["logvar_1"], logvar[:, 1])
        np.testing.assert_array_equal(f["label"], load_digits_split().y_test)
    status, _, _ = cli("anomaly", "--run", str(trained), "--per-example",
                       str(tmp_path / "anomaly.csv"))
    with open(tmp_path / "anomaly.csv") as f:
        assert status == 0 and next(csv.reader(f)) == ["index", "label", "neg_elbo",
                                                        "squared_error", "regret"]


@pytest.mark.parametrize("path, message", [
    ("scores.txt", "--per-example writes a .csv or an .npz file; got"),
    ("missing/scores.csv", "missing does not exist"),
    ("notes.csv/scores.csv", "notes.csv is a file, not a folder"),
    ("notes.csv", "exists and is not a table an earlier --per-example wrote"),
    ("labels.csv", "exists and is not a table an earlier --per-example wrote"),
])
def test_a_bad_per_example_file_is_one_line_before_any_work(trained, cli, tmp_path, path,
                                                            message):
    (tmp_path / "notes.csv").write_text("my,own\n1,2\n")
    (tmp_path / "labels.csv").write_text("index,label\n0,7\n")  # a user's, npvae's names
    for command in ("evaluate", "latent", "anomaly"):
        status, _, err = cli(command, "--run", str(trained), "--per-example",
                             str(tmp_path / path))
        assert_one_line_error(status, err, message)
    assert (tmp_path / "notes.csv").read_text() == "my,own\n1,2\n"
    assert (tmp_path / "labels.csv").read_text() == "index,label\n0,7\n"


def test_per_example_never_overwrites_the_runs_own_files(trained, cli, tmp_path):
    for name in ("checkpoint.npz", "history.csv"):
        before = (trained / name).read_bytes()
        status, _, err = cli("evaluate", "--run", str(trained), "--per-example",
                             str(trained / name))
        assert_one_line_error(status, err, "exists and is not a table")
        assert (trained / name).read_bytes() == before
    mine = {"mine.csv": "index,name,salary\n0,alice,100\n", "set.csv": "set,index,comment\n"}
    for name, text in mine.items():  # a table of the user's, whatever its first column
        (tmp_path / name).write_text(text)
        status, _, err = cli("latent", "--run", str(trained), "--per-example",
                             str(tmp_path / name))
        assert_one_line_error(status, err, "exists and is not a table")
        assert (tmp_path / name).read_text() == text
    np.savez(tmp_path / "mine.npz", index=np.arange(3), secret=np.ones(3))
    status, _, err = cli("latent", "--run", str(trained), "--per-example",
                         str(tmp_path / "mine.npz"))
    assert_one_line_error(status, err, "exists and is not a table")
    (tmp_path / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    status, _, err = cli("latent", "--run", str(trained), "--per-example",
                         str(tmp_path / "link.csv"))
    assert_one_line_error(status, err, "is a symbolic link")
    table = tmp_path / "again.npz"  # but an earlier --per-example's table may be written again
    for _ in range(2):
        status, _, err = cli("latent", "--run", str(trained), "--per-example", str(table))
        assert status == 0, err


def test_a_learned_std_is_reported_beside_its_optimum(tmp_path, cli):
    status, out, _ = cli("train", "--dataset", "digits", "--likelihood", "gaussian",
                         "--epochs", "2", "--quiet", "--out", str(tmp_path / "run"))
    line = next(line for line in out.splitlines() if line.startswith("learned std"))
    assert status == 0 and "the test ELBO is highest at" in line
    assert "has not caught up: train longer, or raise --log-std-scale (10)" in line


def test_resume_continues_to_the_new_total(tmp_path, cli):
    folder = str(tmp_path / "run")
    assert cli(*TRAIN, "--epochs", "1", "--out", folder)[0] == 0
    status, out, _ = cli("train", "--out", folder, "--epochs", "2", "--resume", "--quiet")
    assert status == 0 and "epoch   2/2" in out and "epoch   1/2" not in out
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())) == 2


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (TRAIN + ["--epochs", "0"], "--epochs: must be at least 1; got 0"),
    (TRAIN + ["--latent-dim", "0"], "--latent-dim: must be at least 1; got 0"),
    (TRAIN + ["--lr", "-1"], "--lr must be a finite number > 0"),
    (TRAIN + ["--val-fraction", "1e-9", "--patience", "2"],
     "--patience watches the validation loss, but --val-fraction 1e-09 of 1,437 training"),
    (TRAIN + ["--likelihood", "gaussian", "--gaussian-std", "1e-300"],
     "a number from 1e-06 to 1e+06; got 1e-300"),
    (["evaluate", "--run", ".", "--au-threshold", "nan"], "must be numbers >= 0; got nan"),
    (["anomaly", "--run", ".", "--ood-dataset", "digits", "--percentile", "500"],
     "--percentile must lie in (0, 100); got 500"),
    (TRAIN + ["--lr", "inf"], "--lr must be a finite number > 0"),
    (TRAIN + ["--seed", "-1"], "--seed: must be >= 0; got -1"),
    (TRAIN + ["--dataset", "digits", "--data-dir", "."], "--dataset digits comes with"),
    (TRAIN + ["--epochs", "two"], "invalid integer value: 'two'"),
    (["sample", "--run", "no/such/folder"], "is not a run folder"),
    (["sample", "--run", "README.md", "--seed", "-2"], "--seed: must be >= 0"),
    (["sample", "--run", "."], "no checkpoint"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(argv, fragment, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = cli(*argv)
    assert_one_line_error(status, err, fragment)


def test_an_existing_run_is_not_overwritten(trained, cli):
    before = (trained / "checkpoint.npz").read_bytes()
    status, _, err = cli(*TRAIN, "--out", str(trained))
    assert_one_line_error(status, err, "already holds a run", "--resume")
    assert (trained / "checkpoint.npz").read_bytes() == before


def test_a_corrupt_checkpoint_exits_2(tmp_path, cli):
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip file")
    status, _, err = cli("evaluate", "--run", str(tmp_path))
    assert_one_line_error(status, err, "is not an npvae checkpoint (not a .npz archive)")


def test_a_file_where_a_folder_is_expected(tmp_path, cli):
    (tmp_path / "file").write_text("x")
    status, _, err = cli(*TRAIN, "--out", str(tmp_path / "file"))
    assert_one_line_error(status, err, "is a file, not a folder")
    status, _, err = cli("latent", "--run", str(tmp_path / "file"))
    assert_one_line_error(status, err, "is a file, not a run folder")


@pytest.fixture
def offline(tmp_path, monkeypatch):
    def fetch(name, **kwargs):
        raise URLError("[Errno -2] Name or service not known")
    monkeypatch.setattr(mnist, "fetch_openml", fetch)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn"))


def test_offline_the_main_command_trains_on_the_shipped_mnist_test_set(tmp_path, cli, offline):
    folder = tmp_path / "run"
    status, out, err = cli("train", "--out", str(folder), "--quiet", "--epochs", "1",
                           "--hidden", "32", "--latent-dim", "2")
    assert status == 0, err
    first, why = err.splitlines()[:2]  # what it does, in a short first line; then why
    assert first == ("npvae train: training on the MNIST test set that ships with npvae "
                     "(--dataset mnist-t10k)")
    assert why.startswith("  why: mnist could not be downloaded from OpenML (")
    assert "Traceback" not in err and "error" not in first
    assert "training mnist-t10k: 7200 train, 800 validation, 2000 test" in out
    assert json.loads((folder / "config.json").read_text())["dataset"] == "mnist-t10k"
    assert cli("evaluate", "--run", str(folder))[0] == 0


def test_offline_an_ood_data_set_names_the_anomaly_flag(trained, cli, offline):
    status, _, err = cli("anomaly", "--run", str(trained), "--ood-dataset", "fashion-mnist")
    assert_one_line_error(status, err, "--ood-dataset fashion-mnist could not be downloaded",
                          "--ood-data-dir DIR instead")
    assert "--data-dir" not in err.replace("--ood-data-dir", "")


def test_per_example_rows_of_a_standardised_run_in_both_units(tmp_path, cli):
    import csv
    run = tmp_path / "run"
    cli("train", "--dataset", "digits", "--likelihood", "gaussian", "--standardize", "--hidden",
        "16", "--latent-dim", "2", "--epochs", "1", "--quiet", "--out", str(run))
    status, out, _ = cli("evaluate", "--run", str(run), "--per-example", str(tmp_path / "s.csv"))
    with open(tmp_path / "s.csv") as f:
        rows = list(csv.DictReader(f))
    shift = float(rows[0]["neg_elbo_own_units"]) - float(rows[0]["neg_elbo"])
    own = np.mean([float(r["neg_elbo_own_units"]) for r in rows])
    assert status == 0 and f"in the data's own units {own:.3f}" in out
    assert f"sum_d log std_d = {shift:.3f}" in out


def test_offline_an_explicit_mnist_fails_clearly_and_writes_nothing(tmp_path, cli, offline):
    status, _, err = cli("train", "--dataset", "mnist", "--out", str(tmp_path / "run"),
                         "--quiet")
    assert_one_line_error(status, err, "mnist could not be downloaded", "--dataset mnist-t10k",
                          "--dataset digits", "--data-dir")
    assert not (tmp_path / "run").exists()


def test_evaluate_with_iwae_and_collapse_diagnostics(trained, cli):
    status, out, _ = cli("evaluate", "--run", str(trained), "--iwae-k", "20")
    assert status == 0
    elbo = float(out.split("test negative ELBO ")[1].split()[0])
    bound = float(out.split("log-likelihood <= ")[1].split()[0])
    assert bound <= elbo + 0.5  # the bound is tighter than the ELBO, up to noise
    assert "active units:" in out and "KL per latent dimension:" in out
    assert (trained / "kl_per_dimension.png").stat().st_size > 1000


def test_conditional_sampling_by_label(tmp_path, cli):
    folder = tmp_path / "cvae"
    assert cli(*TRAIN, "--epochs", "2", "--conditional", "--out", str(folder))[0] == 0
    status, _, _ = cli("sample", "--run", str(folder), "--label", "7")
    assert status == 0 and (folder / "samples.png").is_file()
    status, _, _ = cli("sample", "--run", str(folder))
    assert status == 0 and (folder / "samples_by_class.png").is_file()
    for command in ("reconstruct", "interpolate", "latent", "evaluate", "anomaly", "uncertainty"):
        assert cli(command, "--run", str(folder))[0] == 0
    status, _, err = cli("anomaly", "--run", str(folder), "--ood-dataset", "digits")
    assert_one_line_error(status, err, "out-of-distribution scores need a plain run")
    status, _, err = cli("sample", "--run", str(folder), "--label", "10")
    assert_one_line_error(status, err, "--label must lie in [0, 10)")


def test_anomaly_reports_the_auc_of_the_held_out_class(tmp_path, cli):
    folder = tmp_path / "holdout"
    argv = ["train", "--dataset", "digits", "--hidden", "64", "--latent-dim", "8", "--quiet"]
    assert cli(*argv, "--epochs", "5", "--holdout-class", "0", "--out", str(folder))[0] == 0
    status, out, _ = cli("anomaly", "--run", str(folder))
    assert status == 0 and "ROC-AUC for detecting class 0" in out
    auc = float(out.split("ROC-AUC for detecting class 0: ")[1].split()[0])
    assert auc > 0.75  # 0.88 with this seed; chance is 0.5
    assert (folder / "anomaly.png").stat().st_size > 1000


def test_anomaly_without_a_held_out_class(trained, cli):
    (trained / "anomaly.png").unlink(missing_ok=True)
    status, out, _ = cli("anomaly", "--run", str(trained), "--percentile", "95")
    assert status == 0 and "ROC-AUC" not in out
    assert "threshold: negative ELBO" in out and "95th percentile" in out
    assert "threshold: squared reconstruction error" in out  # both scores, as the README says
    assert (trained / "anomaly.png").stat().st_size > 1000


def write_t10k(folder, images):
    """An IDX folder with only the test files, as an out-of-distribution set."""
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(len(images)))
    return str(folder)


def test_anomaly_against_another_data_set(trained, cli, tmp_path):
    white = np.full((40, 64), 255)
    white[np.arange(40), np.arange(40)] = 0  # white squares, each with one black pixel
    folder = write_t10k(tmp_path / "light", white.reshape(40, 8, 8))
    status, out, _ = cli("anomaly", "--run", str(trained), "--ood-data-dir", folder,
                         "--iwae-k", "3", "--per-example", str(tmp_path / "ood.npz"))
    assert status == 0 and "360 test images of digits" in out and "40 of light" in out
    with np.load(tmp_path / "ood.npz") as f:
        assert f.files == ["set", "index", "neg_elbo", "iwae", "reconstruction", "code_length",
                           "compressed", "complexity", "regret"]
        assert f["set"].tolist() == ["in"] * 360 + ["out"] * 40
    summary = json.loads((trained / "ood.json").read_text())
    assert summary["in"] == "digits" and summary["out"] == "light" and summary["iwae_k"] == 3
    assert summary["regret_steps"] == 50 and "for likelihood regret (50 steps)" in out
    assert summary["images_coded"] == "8-bit"
    results = summary["scores"]
    assert list(results) == ["neg_elbo", "iwae", "reconstruction", "code_length", "compressed",
                             "complexity", "regret"]
    for score, r in results.items():
        assert list(r) == ["auroc", "aupr", "fpr95", "mean_in", "mean_out", "unit"]
        assert all(0 <= r[k] <= 1 for k in ("auroc", "aupr", "fpr95"))
        assert (f"{r['mean_in']:9.2f} {r['mean_out']:9.2f} {r['auroc']:6.3f} {r['aupr']:6.3f} "
                f"{r['fpr95']:10.3f}") in out, score
    assert results["reconstruction"]["auroc"] > 0.9 and results["complexity"]["auroc"] > 0.9
    assert results["regret"]["auroc"] > 0.5  # (a 2-epoch model of 16 units: 0.85)
    assert results["neg_elbo"]["auroc"] > 0.5  # white squares are far from any digit
    assert (trained / "ood.png").stat().st_size > 1000


def test_a_gaussian_run_says_which_ood_scores_it_has(cli, tmp_path):
    run = tmp_path / "run"
    cli("train", "--dataset", "digits", "--likelihood", "gaussian", "--hidden", "16",
        "--latent-dim", "2", "--epochs", "1", "--quiet", "--out", str(run))
    folder = write_t10k(tmp_path / "light", np.full((10, 8, 8), 255))
    status, out, _ = cli("anomaly", "--run", str(run), "--ood-data-dir", folder, "--iwae-k", "2",
                         "--regret-steps", "0")
    assert status == 0 and "code lengths: not computed (a Gaussian likelihood is a density" in out
    assert "complexity = code_length" not in out
    summary = json.loads((run / "ood.json").read_text())
    assert summary["images_coded"] == "none (Gaussian likelihood)"
    assert list(summary["scores"]) == ["neg_elbo", "iwae", "reconstruction", "compressed"]
    assert "likelihood regret" not in out  # --regret-steps 0: not computed


def test_anomaly_against_its_own_test_set_is_chance(trained, cli):
    status, _, err = cli("anomaly", "--run", str(trained), "--ood-dataset", "digits",
                         "--iwae-k", "3")
    assert status == 0  # each image, in and out, gets the same scores: FPR = TPR everywhere
    assert "warning: --ood-dataset digits is the run's own data set" in err
    for score, r in json.loads((trained / "ood.json").read_text())["scores"].items():
        assert r["auroc"] == pytest.approx(0.5) and r["aupr"] == pytest.approx(0.5)
        if score == "compressed":  # whole bytes: ties, so the TPR jumps past 0.95 (to 0.958)
            assert 0.95 <= r["fpr95"] < 0.97
        else:
            assert r["fpr95"] == pytest.approx(0.95, abs=1 / 360)


@pytest.mark.parametrize("argv, fragment", [
    (["--ood-data-dir", "SHAPE"], "holds 28x28 images; the run's model takes 8x8"),
    (["--ood-data-dir", "EMPTY"], "no t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz"),
    (["--ood-data-dir", "MISSING"], "is not a folder"),
    (["--ood-dataset", "digits", "--ood-data-dir", "EMPTY"], "not allowed with argument"),
    (["--ood-dataset", "digits", "--iwae-k", "0"], "--iwae-k: must be at least 1; got 0"),
])
def test_bad_out_of_distribution_sets(trained, cli, tmp_path, argv, fragment):
    folders = {"SHAPE": write_t10k(tmp_path / "big", np.zeros((3, 28, 28))),
               "EMPTY": write_t10k(tmp_path / "empty", np.zeros((0, 8, 8))),
               "MISSING": str(tmp_path / "missing")}
    (tmp_path / "empty" / "t10k-images-idx3-ubyte.gz").unlink()
    status, _, err = cli("anomaly", "--run", str(trained), *[folders.get(a, a) for a in argv])
    assert_one_line_error(status, err, fragment)


def test_offline_mnist_as_the_other_data_set(trained, cli, tmp_path, monkeypatch):
    def fetch(name, **kwargs):
        raise URLError("[Errno -2] Name or service not known")
    monkeypatch.setattr(mnist, "fetch_openml", fetch)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn"))
    status, _, err = cli("anomaly", "--run", str(trained), "--ood-dataset", "mnist")
    assert_one_line_error(status, err, "mnist could not be downloaded")


def test_uncertainty_draws_its_figures(trained, cli):
    for name in ("uncertainty.png", "least_most_sure.png"):
        (trained / name).unlink(missing_ok=True)
    status, out, _ = cli("uncertainty", "--run", str(trained), "--samples", "30", "--n", "5")
    assert status == 0
    rows = [line.split(":")[1].split() for line in out.splitlines() if line.startswith("image")]
    assert len(rows) == 5 and all(len(row) == 2 for row in rows)  # 5 images, 2 latent dims
    assert all(0 < float(v) < 3 for row in rows for v in row)
    assert "over 30 draws from q(z | x)" in out and "IWAE negative log-likelihood" in out
    for name in ("uncertainty.png", "least_most_sure.png"):
        assert (trained / name).stat().st_size > 1000


@pytest.mark.parametrize("argv, fragment", [
    (["sample", "--label", "3"], "--label needs a conditional run"),
    (["anomaly", "--percentile", "100"], "--percentile must lie in (0, 100)"),
    (["evaluate", "--iwae-k", "0"], "--iwae-k: must be at least 1"),
    (["sample", "--n", "100000"], "--n must be at most 400"),
    (["reconstruct", "--n", "10000"], "--n must be at most 40"),
    (["uncertainty", "--samples", "1"], "--samples must be at least 2; got 1"),
    (["uncertainty", "--n", "0"], "--n: must be at least 1; got 0"),
])
def test_bad_options_of_the_new_commands(trained, cli, argv, fragment):
    status, _, err = cli(argv[0], "--run", str(trained), *argv[1:])
    assert_one_line_error(status, err, fragment)


def test_a_holdout_class_that_does_not_exist(tmp_path, cli):
    status, _, err = cli(*TRAIN, "--holdout-class", "12", "--out", str(tmp_path / "r"))
    assert_one_line_error(status, err, "--holdout-class 12 is not a label of digits")
    assert not (tmp_path / "r").exists()


def test_train_with_the_reference_engine(tmp_path, cli):
    folder = tmp_path / "ref"
    status, out, _ = cli(*TRAIN, "--epochs", "1", "--engine", "reference", "--out", str(folder))
    assert status == 0 and "epoch   1/1" in out
    assert json.loads((folder / "config.json").read_text())["engine"] == "reference"
    status, _, err = cli(*TRAIN, "--engine", "reference", "--likelihood", "gaussian",
                         "--out", str(tmp_path / "no"))
    assert_one_line_error(status, err, "--engine reference trains the VAE of npvae/reference.py")
    assert not (tmp_path / "no").exists()


# ---- a researcher's experiments from the command line -----------------------------

def test_an_asymmetric_run_with_validation_early_stopping_and_schedules(tmp_path, cli):
    folder = tmp_path / "run"
    status, out, err = cli(*TRAIN, "--decoder-hidden", "16", "24", "--activation", "tanh",
                           "--val-fraction", "0.2", "--patience", "2", "--epochs", "60",
                           "--lr", "0.01", "--lr-schedule", "plateau", "--warmup", "0.5",
                           "--free-bits", "0.1", "--out", str(folder))
    assert status == 0, err
    assert "1150 train, 287 validation, 360 test images; 64-32-2 (decoder 2-16-24-64)" in out
    assert "early stopping: stopped after epoch" in out and "the model is epoch" in out
    assert "test negative ELBO" in out and "latent dimensions carrying more than 0.1" in out
    config = json.loads((folder / "config.json").read_text())
    assert config["decoder_hidden"] == [16, 24] and config["activation"] == "tanh"
    history = json.loads((folder / "history.json").read_text())
    assert len(history) < 60 and {"lr", "beta", "val_loss"} <= set(history[0])
    assert history[0]["beta"] < 1 == history[1]["beta"]  # half an epoch of warm-up
    model = npvae.load(folder / "checkpoint.npz")
    assert model.decoder_hidden_dims == (16, 24) and model.free_bits == 0.1
    assert model.activation == "tanh"
    status, out, _ = cli("train", "--out", str(folder), "--resume", "--epochs", "80", "--quiet")
    assert status == 0 and "early stopping: stopped after epoch" in out  # stays stopped
    assert len(json.loads((folder / "history.json").read_text())) == len(history)


def test_a_gaussian_run_with_a_learned_std_on_standardised_data(tmp_path, cli):
    folder = tmp_path / "run"
    status, out, err = cli(*TRAIN, "--likelihood", "gaussian", "--gaussian-std",
                           "learned-per-dim", "--standardize", "--epochs", "3", "--out",
                           str(folder))
    assert status == 0, err
    own_units = out.split("in the data's own units ")[1]
    assert "sum_d log std_d" in own_units
    for command in ("evaluate", "reconstruct", "sample", "uncertainty"):
        status, out, err = cli(command, "--run", str(folder))
        assert status == 0, err
    status, out, err = cli("anomaly", "--run", str(folder), "--ood-dataset", "digits")
    assert_one_line_error(status, err, "not trained --standardize")


def test_a_fixed_std_of_1_on_pixels_collapses_and_says_so(tmp_path, cli):
    status, out, err = cli("train", "--dataset", "digits", "--hidden", "128", "--latent-dim", "8",
                           "--batch-size", "64", "--epochs", "20", "--likelihood", "gaussian",
                           "--gaussian-std", "1", "--quiet", "--out", str(tmp_path / "run"))
    assert status == 0 and "carrying more than 0.1 nats: 0 of 8" in out
    assert "warning: the posterior collapsed" in err and "--gaussian-std learned" in err


@pytest.mark.parametrize("argv, fragment", [
    (["--gaussian-std", "learned"], "--gaussian-std is an option of --likelihood gaussian"),
    (["--log-std-scale", "50"], "--log-std-scale is an option of a learned std"),
    (["--likelihood", "gaussian", "--gaussian-std", "0.5", "--log-std-scale", "50"],
     "--log-std-scale is an option of a learned std"),
    (["--likelihood", "gaussian", "--log-std-scale", "0"], "--log-std-scale must be a finite"),
    (["--standardize"], "--standardize is an option of --likelihood gaussian"),
    (["--likelihood", "gaussian", "--gaussian-std", "-1"], "must be > 0"),
    (["--likelihood", "gaussian", "--gaussian-std", "big"], "expected learned, learned-per-dim"),
    (["--warmup", "1", "--kl-cycles", "2"], "choose one"),
    (["--val-fraction", "0.9"], "--val-fraction must lie in [0, 0.5]"),
    (["--val-fraction", "0", "--patience", "2"], "--patience stops on the validation loss"),
    (["--free-bits", "-1"], "--free-bits must be a finite number >= 0"),
    (["--model", "tcvae", "--free-bits", "0.5"], "free_bits is an option of npvae.VAE"),
    (["--engine", "reference", "--free-bits", "0.5"], "no free bits"),
    (["--decoder-hidden", "0"], "--decoder-hidden: must be at least 1"),
])
def test_bad_experiment_options_exit_2_with_one_line(argv, fragment, cli, tmp_path):
    status, _, err = cli(*TRAIN, *argv, "--out", str(tmp_path / "run"))
    assert_one_line_error(status, err, fragment)


def test_evaluate_json_and_its_thresholds(trained, cli):
    status, out, _ = cli("evaluate", "--run", str(trained), "--json", "--iwae-k", "5",
                         "--kl-threshold", "0.5", "--au-threshold", "0.1")
    assert status == 0 and "wrote" in out
    report = json.loads((trained / "evaluation.json").read_text())
    assert f"{report['neg_elbo']:.3f}" in out and f"<= {report['iwae_nll']:.3f}" in out
    assert report["kl_threshold"] == 0.5 and report["au_threshold"] == 0.1
    assert report["dimensions_above_kl_threshold"] == sum(
        kl > 0.5 for kl in report["kl_per_dimension"])
    assert report["active_units"] == sum(v > 0.1 for v in report["posterior_mean_variance"])
    assert f"carrying more than 0.5 nats of KL: {report['dimensions_above_kl_threshold']}" in out


def test_the_loss_figure_draws_the_parts_and_beta(trained):
    from npvae.evaluation import plots

    history = json.loads((trained / "history.json").read_text())
    fig = plots.loss_curves(history)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["negative ELBO", "reconstruction", "KL"]
    assert fig.axes[3].get_ylabel().startswith("beta")  # on the KL panel's right axis
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["train", "validation", "test (once, at the end)"]
    for ax in fig.axes[:3]:  # every panel says what its lines are
        assert [t.get_text() for t in ax.get_legend().get_texts()][:3] == labels
    kl_legend = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert kl_legend == labels + ["beta (right axis)"]
    beta_line = fig.axes[3].get_lines()[0]
    assert beta_line.get_linestyle() == "--" and beta_line.get_marker() in ("None", "", None)


def test_the_same_command_twice_starts_a_second_run_and_says_what_to_do_next(cli, tmp_path,
                                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--dataset", "digits", "--epochs", "1", "--hidden", "8", "--latent-dim",
            "2", "--quiet"]
    assert cli(*argv)[0] == 0
    first = (tmp_path / "runs" / "digits" / "checkpoint.npz").read_bytes()
    status, out, err = cli(*argv)
    assert status == 0, err
    assert "runs/digits holds a run: this one goes to runs/digits-2" in out
    assert (tmp_path / "runs" / "digits" / "checkpoint.npz").read_bytes() == first
    commands = out.split("next:\n")[1].splitlines()
    assert commands[0] == "  npvae sample --run runs/digits-2"
    for command in commands:  # each runs as printed
        name, *rest = command.split()
        assert name == "npvae"
        status, _, err = cli(*rest)
        assert status == 0, (command, err)


def test_a_runs_folder_beside_the_package_does_not_shadow_it(tmp_path):
    """``python -m npvae`` from the parent of a clone named npvae, whose runs/ folder Python
    sees as a namespace package beside the installed one: no module of npvae is named runs."""
    (tmp_path / "npvae" / "runs" / "digits").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "npvae", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "train" in result.stdout
