"""The exercise checker judges answers: every right answer passes (exit 0), every wrong one
fails (exit 1) with its reason, and code that cannot be checked exits 2 in one line."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from npvae.teaching.judge import EXERCISES

ANSWERS = Path(__file__).parent.parent / "answers"

RIGHT = {"difference": "numerical_gradient", "dense": "MyDense", "relu": "MyReLU",
         "tanh": "MyTanh", "kl": "MyKL", "reparameterization": "MyReparameterization",
         "bernoulli": "MyBernoulliNLL", "adam": "MyAdam", "vae": "MyVAE", "iwae": "MyIWAE",
         "stl": "MySTL", "dreg": "MyDReG"}

WRONG = [  # (exercise, answer in answers/wrong.py, a fragment of the reason printed)
    ("difference", "forward_difference", "a one-sided difference"),
    ("difference", "not_restored", "restore each x[i]"),
    ("dense", "DenseAccumulates", "do not add to it (+=)"),
    ("dense", "DenseForgetsReturn", "backward must return the gradient of the loss"),
    ("dense", "DenseBiasWrongAxis", "grads['b'] has shape (7,), not (3,)"),
    ("dense", "DenseNoBias", "forward values: y = x W + b"),
    ("dense", "DenseOwnCopy", "instead of self.params['W']"),
    ("relu", "ReLUChangesDy", "backward changed the dy it was given"),
    ("relu", "ReLUInPlace", "forward changed the array it was given"),
    ("relu", "ReLUNoMask", "gradient of x"),
    ("tanh", "TanhWithInput", "gradient of x"),
    ("kl", "KLDroppingOne", "the constant 1"),
    ("kl", "KLSquaredVariance", "forward values: KL"),
    ("kl", "KLWithoutHalf", "a missing factor 1/2?"),
    ("kl", "KLRowsFlat", "forward returns an array of shape (7, 1)"),
    ("reparameterization", "ReparamVarianceAsStd", "you used exp(logvar) as the standard"),
    ("reparameterization", "ReparamFreshNoise", "drawn anew"),
    ("reparameterization", "ReparamWithoutHalf", "a missing factor 1/2?"),
    ("bernoulli", "BernoulliNaive", "yours inf"),
    ("bernoulli", "BernoulliFromProbabilities", "at logits of +-1000"),
    ("bernoulli", "BernoulliWrongSign", "the sign flipped"),
    ("adam", "AdamRebinds", "params.vector was replaced by a new array"),
    ("adam", "AdamRebindsViews", "params.values['layer.W'] was replaced by a new array"),
    ("adam", "AdamNoBiasCorrection", "both bias corrections left out"),
    ("adam", "AdamEpsInsideSqrt", "eps inside the square root"),
    ("vae", "VAESum", "the sum over the batch"),
    ("vae", "VAEBetaOnlyInValue", "gradient of logvar_head.b"),
    ("vae", "VAENoReparamPathIntoLogvar", "gradient of logvar_head.W"),
    ("vae", "VAENoFanIn", "gradient of encoder.0.W"),
    ("vae", "VAENoKLPath", "the KL's own gradient into mu and logvar is missing"),
    ("iwae", "IWAENoShift", "subtract the largest log w_k before exp"),
    ("iwae", "IWAEDrawsSecond", "the draws come first, (K, N, L)"),
    ("iwae", "IWAEMeanLogW", "the K-draw ELBO"),
    ("iwae", "IWAEUniformWeights", "each is weighted by its normalised weight"),
    ("stl", "STLKeepsScore", "the bound's own gradient (exercise 9)"),
    ("iwae", "IWAEBatchMax", "every other row"),
    ("iwae", "IWAEVarianceAsStd", "exp(logvar) as the standard deviation"),
    ("stl", "STLDropsSlope", "without log q's slope in z"),
    ("dreg", "DReGNotSquared", "DReG squares them"),
    ("dreg", "DReGWithIWAEGradient", "the bound's own gradient (exercise 9)"),
]


def test_every_exercise_has_a_right_and_a_wrong_answer():
    assert set(RIGHT) == set(EXERCISES) == {exercise for exercise, _, _ in WRONG}


@pytest.mark.parametrize("exercise", EXERCISES)
def test_a_right_answer_passes(cli, exercise):
    status, out, err = cli("gradcheck", "--exercise", exercise,
                           f"{ANSWERS / 'right.py'}:{RIGHT[exercise]}")
    assert status == 0 and out.strip().endswith("checks passed: right"), out + err
    assert "FAIL" not in out


@pytest.mark.parametrize("exercise, answer, reason", WRONG)
def test_a_wrong_answer_fails_with_its_reason(cli, exercise, answer, reason):
    status, out, err = cli("gradcheck", "--exercise", exercise, f"{ANSWERS / 'wrong.py'}:{answer}")
    assert status == 1 and "wrong: see FAIL above" in out, out + err
    assert reason in out, out


def test_npvaes_own_adam_is_a_right_answer(cli):
    assert cli("gradcheck", "--exercise", "adam", "npvae.nn.optim:Adam")[0] == 0


@pytest.fixture
def answer(tmp_path):
    def write(source):
        path = tmp_path / "mine.py"
        path.write_text(textwrap.dedent(source))
        return path
    return write


@pytest.mark.parametrize("source, spec, fragment", [
    ("import sys\nsys.exit()\n", "MyReLU", "cannot import"),
    ("class MyReLU:\n    def forward(self, x):\n        raise SystemExit(3)\n"
     "    def backward(self, dy):\n        return dy\n", "MyReLU",
     "forward raised SystemExit: 3 (mine.py, line 3)"),
    ("class MyReLU:\n    def forward(self, x):\n        return x[9]\n"
     "    def backward(self, dy):\n        return dy\n", "MyReLU",
     "forward raised IndexError: index 9 is out of bounds"),
    ("class MyReLU:\n    pass\n", "MyReLU", "has no method forward"),
    ("def broken(:\n", "MyReLU", "SyntaxError"),
    ("X = 1\n", "MyReLU", "has no MyReLU"),
    ("class MyAdam:\n    def __init__(self, params):\n        pass\n", "MyAdam",
     "__init__() takes 2 positional arguments but 5 were given "
     "(mine.py, line 2)"),
    ("def numerical_gradient(f, x, h=1e-5):\n    return x * 0\n", "numerical_gradient",
     "has no function rel_error"),
])
def test_code_that_cannot_be_checked_exits_2_in_one_line(cli, answer, source, spec, fragment):
    exercise = {"MyAdam": "adam", "numerical_gradient": "difference"}.get(spec, "relu")
    status, out, err = cli("gradcheck", "--exercise", exercise, f"{answer(source)}:{spec}")
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert fragment in err, err


def test_an_unknown_exercise_is_refused(cli):
    status, _, err = cli("gradcheck", "--exercise", "softmax", "mine.py:X")
    assert status == 2 and "no exercise 'softmax'" in err


def test_an_answer_may_import_its_own_pieces(cli, answer):
    """Exercise 7 builds the VAE from the student's own pieces, in other files of their folder."""
    path = answer("from right_copy import MyVAE\n")
    path.with_name("right_copy.py").write_text((ANSWERS / "right.py").read_text())
    assert cli("gradcheck", "--exercise", "vae", f"{path}:MyVAE")[0] == 0


KEPT = [  # (exercise, answer in answers/kept.py or another file, a fragment of the reason)
    ("difference", "kept.py:ng_buffer", "return a new array each call"),
    ("difference", "kept.py:ng_ignores_h", "is the argument h used?"),
    ("difference", "kept.py:ng_relative", "a step relative to x (h * |x|) is 0 there"),
    ("difference", "kept.py:ng_reshape", "x.reshape(-1) or x.flatten() of it is a copy"),
    ("difference", "kept.py:ng_arith", "x is back only to within rounding"),
    ("difference", "kept.py:ng_bigh", "so the default is off"),
    ("difference", "rel_error_floor.py:numerical_gradient", "rel_error's floor is 1e-8"),
    ("difference", "rel_error_python_max.py:numerical_gradient", "rel_error is passed arrays"),
    ("difference", "rel_error_in_place.py:numerical_gradient", "changed the arrays it was given"),
    ("dense", "kept.py:DenseCacheOnce", "an earlier call"),
    ("relu", "kept.py:ReLUMaskOnce", "an earlier call"),
    ("tanh", "kept.py:TanhCacheOnce", "an earlier call"),
    ("kl", "kept.py:KLCacheOnce", "an earlier call"),
    ("reparameterization", "kept.py:ReparamSliced", "an earlier call"),
    ("reparameterization", "kept.py:ReparamOneRow", "one row per example"),
    ("reparameterization", "kept.py:ReparamSeed1", "np.random.default_rng(0).standard_normal"),
    ("reparameterization", "kept.py:ReparamClip", "right at logvar from -45 to 30"),
    ("bernoulli", "kept.py:BernoulliTargetsOnce", "a new batch shape needs arrays of its own"),
    ("bernoulli", "kept.py:BernoulliInit", "an earlier call"),
    ("bernoulli", "kept.py:BernoulliLogSigmoid", "a log met 0"),
    ("dense", "kept.py:DenseBuffer", "forward's result changed when the layer was called again"),
    ("relu", "kept.py:ReLUBufferGrad", "backward's result changed"),
    ("dense", "kept.py:DenseHardN", "an earlier call"),
    ("dense", "kept.py:DenseOwnW", "instead of self.params['W']"),
    ("kl", "kept.py:KLClip", "right at logvar from -45 to 30"),
    ("tanh", "kept.py:TanhExp", "right at x = +-800"),
    ("tanh", "kept.py:TanhPlusEq", "twice the first dL/dx"),
    ("dense", "kept.py:DenseChangesParams", "backward changed params"),
    ("adam", "kept.py:AdamPrivate", "does it keep a copy of params.vector?"),
    ("adam", "kept.py:AdamFixedEps", "eps = 1e-8 instead of the eps passed"),
    ("adam", "kept.py:AdamIgnoresLr", "lr = 0.001 instead of the lr passed"),
    ("adam", "kept.py:AdamDouble", "two updates in one step?"),
    ("adam", "kept.py:AdamSwapped", "the betas swapped"),
    ("adam", "kept.py:AdamStuck", "t kept at 1"),
    ("adam", "kept.py:AdamShared", "state from another"),
    ("adam", "kept.py:AdamF32", "cannot tell why"),
    ("vae", "kept.py:VAENoCap", "capped at 30"),
    ("vae", "kept.py:VAELeaksThroughCap", "capped at 30"),
    ("vae", "kept.py:VAEClip", "capped at 30"),
    ("vae", "kept.py:VAELossBuffer", "not an array the model keeps"),
    ("vae", "kept.py:VAEHardN", "an earlier call"),
    ("vae", "kept.py:VAECacheOnce", "an earlier call"),
    ("vae", "kept.py:VAEBetaRec", "beta weights the KL, not the reconstruction"),
    ("vae", "kept.py:VAEInplace", "does backward change what forward kept"),
    ("reparameterization", "kept.py:ReparamNoiseKeyedOnRows", "then width 10, same rows"),
    ("reparameterization", "kept.py:ReparamStdOfFirstBatch", "forward(x1); forward(x2)"),
    ("vae", "kept.py:VAEFirstNoise", "forward(x1, eps1); forward(x2, eps2)"),
    ("vae", "kept.py:VAEClipsBelowToo", "capped at 30 from above only"),
    ("vae", "kept.py:VAEClipsTargets", "right on pixels of exactly 0 and 1"),
    ("adam", "kept.py:AdamSkipsZeros", "gradients with entries of exactly 0"),
]


@pytest.mark.parametrize("exercise, answer, reason", KEPT)
def test_a_mistake_that_one_call_cannot_show_fails_with_its_reason(cli, exercise, answer, reason):
    status, out, err = cli("gradcheck", "--exercise", exercise, f"{ANSWERS / answer}")
    assert status == 1 and "wrong: see FAIL above" in out, out + err
    assert reason in out, out


def test_checking_an_exercise_imports_numpy_and_the_teaching_code_alone():
    code = ("import sys\nfrom npvae.cli.main import main\n"
            f"status = main(['gradcheck', '--exercise', 'kl', r'{ANSWERS / 'right.py'}:MyKL'])\n"
            "heavy = [m for m in ('sklearn', 'matplotlib', 'threadpoolctl', 'tqdm', 'scipy',\n"
            "                     'npvae.models', 'npvae.training') if m in sys.modules]\n"
            "print(status, heavy)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip().endswith("0 []"), result.stdout + result.stderr
