"""The exercise checker judges answers: every right answer passes (exit 0), every wrong one
fails (exit 1) with its reason, and code that cannot be checked exits 2 in one line."""

import textwrap
from pathlib import Path

import pytest

from npvae.teaching.checks import EXERCISES

ANSWERS = Path(__file__).parent.parent / "answers"

RIGHT = {"difference": "numerical_gradient", "dense": "MyDense", "relu": "MyReLU",
         "tanh": "MyTanh", "kl": "MyKL", "reparameterization": "MyReparameterization",
         "bernoulli": "MyBernoulliNLL", "adam": "MyAdam", "vae": "MyVAE"}

WRONG = [  # (exercise, answer in answers/wrong.py, a fragment of the reason printed)
    ("difference", "forward_difference", "a one-sided difference"),
    ("difference", "not_restored", "restore each x[i]"),
    ("dense", "DenseAccumulates", "do not add to them (+=)"),
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
    ("bernoulli", "BernoulliWrongSign", "a sign error?"),
    ("adam", "AdamRebinds", "params.vector was replaced by a new array"),
    ("adam", "AdamRebindsViews", "params.values['layer.W'] was replaced by a new array"),
    ("adam", "AdamNoBiasCorrection", "every parameter moves by lr = 0.1"),
    ("adam", "AdamEpsInsideSqrt", "where does eps enter?"),
    ("vae", "VAESum", "the sum over the batch"),
    ("vae", "VAEBetaOnlyInValue", "gradient of logvar_head.b"),
    ("vae", "VAENoReparamPathIntoLogvar", "gradient of logvar_head.W"),
    ("vae", "VAENoFanIn", "gradient of encoder.0.W"),
    ("vae", "VAENoKLPath", "the KL's own gradient into mu and logvar is missing"),
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
