import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def test_the_beta_sweep_runs_in_parallel_and_draws_its_figures(tmp_path):
    out = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "beta_sweep.py"), "--betas", "0.5", "4", "--epochs", "2",
         "--hidden", "16", "--latent-dim", "2", "--jobs", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert [r["beta"] for r in results] == [0.5, 4.0]
    assert results[0]["rate"] > results[1]["rate"]  # a larger beta buys a smaller KL
    for name in ("rate_distortion.png", "samples_by_beta.png"):
        assert (out / name).stat().st_size > 1000


def test_the_benchmark_runs_through_on_a_few_examples():
    """Its numbers are for a quiet machine; here only that every row is measured and printed."""
    result = subprocess.run([sys.executable, str(SCRIPTS / "benchmark.py"), "--examples", "512",
                             "--runs", "1", "--steps", "2", "--reference-engine"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for row in ("npvae / floor", "float64 / float32", "no Adam / floor", "reference / npvae",
                "beta-TCVAE (MSS) / VAE", "FactorVAE / VAE", "IWAE K=5 / VAE", "IWAE K=50 / VAE",
                "peak NumPy memory"):
        assert row in result.stdout, result.stdout


@pytest.mark.parametrize("script", ["benchmark.py", "beta_sweep.py"])
def test_a_missing_data_folder_is_one_line_and_exit_status_2(script, tmp_path):
    missing = tmp_path / "no-such-folder"
    result = subprocess.run([sys.executable, str(SCRIPTS / script), "--data-dir", str(missing)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"{script}: error: --data-dir {missing} is not a folder"


def test_the_gradient_estimator_script_draws_its_figure(tmp_path):
    out = tmp_path / "estimators.png"
    result = subprocess.run([sys.executable, str(SCRIPTS / "gradient_estimators.py"), "--repeats",
                             "50", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pathwise, d/dmu" in result.stdout and out.stat().st_size > 1000


def test_the_scikit_learn_pipeline_script_prints_its_two_tables(monkeypatch, capsys):
    argv = ["sklearn_pipeline.py", "--dims", "2", "--betas", "1", "8", "--epochs", "1",
            "--jobs", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(SCRIPTS / "sklearn_pipeline.py"), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    vae, pca = map(float, lines[2].split()[1:])
    assert 0.1 < vae <= 1 and 0.1 < pca <= 1  # accuracies, chance is 0.1
    assert [line.split()[0] for line in lines[6:8]] == ["1", "8"]  # a mean ELBO for each beta
    assert lines[8].startswith("best beta ")


def test_the_disentanglement_script_tabulates_and_draws(deepmind_file, tmp_path):
    out, figures = tmp_path / "out", tmp_path / "figures"
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "disentanglement.py"), "--dataset", "sprites-full",
         "--data-dir", str(deepmind_file), "--epochs", "1", "--seeds", "0", "1", "--models",
         "VAE", "beta-TCVAE MWS", "FactorVAE", "--hidden", "8", "--latent-dim", "2",
         "--batch-size", "16", "--out", str(out), "--figures", str(figures)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table, decomposition = result.stdout.split("\n\n")[:2]
    rows = [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["| VAE", "| beta-TCVAE MWS", "| FactorVAE"]
    assert decomposition.count("| beta-TCVAE MWS | ") == 1  # the first seed's decomposition
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert len(runs) == 6 and all(0 <= r["mig"] <= 1 and r["neg_elbo"] > 0 for r in runs)
    for name in ("vae", "beta-tcvae-mws", "factorvae"):
        assert (figures / f"sprites-traversal-{name}.png").stat().st_size > 1000
    factorvae = [r for r in runs if r["model"] == "FactorVAE"]  # the adversary, epoch by epoch
    assert all(len(r["discriminator"]["discriminator_accuracy"]) == 1 for r in factorvae)
    assert "FactorVAE, mean over the seeds: discriminator accuracy" in table


def test_the_mss_weights_script_shows_the_common_codes_row_that_does_not_sum_to_one():
    result = subprocess.run([sys.executable, str(SCRIPTS / "mss_weights.py")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    sums = [line.split("sum ")[1] for line in result.stdout.splitlines() if "sum " in line]
    assert sums == ["1.0000"] * 5 + ["1.0000"] * 3 + ["1.0500", "1.0000"]


def test_the_iwae_study_measures_every_estimator_and_model(tmp_path):
    """A short run on the shipped MNIST test set: every row measured, the figure drawn."""
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "iwae_study.py"), "--out", str(tmp_path), "--ks", "1", "3",
         "--snr-epochs", "1", "--repeats", "4", "--batch", "8", "--epochs", "1", "--nll-k", "5",
         "--nll-n", "20"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "results.json").read_text())["MNIST (shipped test set)"]
    assert set(results["snr"]) == {"1", "3"}
    snr = results["snr"]["1"]
    assert snr["stl"] == snr["dreg"]  # one estimator with one draw, fed the same noise
    assert set(results["trained"]) == {"ELBO", "IWAE k=1", "IWAE k=5", "IWAE k=5, dreg"}
    assert (tmp_path / "snr.png").stat().st_size > 1000
