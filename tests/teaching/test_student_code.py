"""A user's own code under npvae gradcheck: whatever it does, one line and exit status 2, or
judged wrong; never a traceback."""

from pathlib import Path

import pytest
from conftest import assert_one_line_error


@pytest.mark.parametrize("init, fragment", [
    ("import sys; sys.exit(0)", "X() raised SystemExit: 0 (mine.py, line 4)"),
    ("raise RuntimeError('boom')", "X() raised RuntimeError: boom (mine.py, line 4)"),
    ("int('x')", "X() raised ValueError"),
])
@pytest.mark.parametrize("how", [["--layer"], ["--exercise", "relu"], ["--exercise", "dense"]])
def test_a_constructor_without_arguments_that_raises_exits_2(cli, tmp_path, init, fragment, how):
    source = (f"import numpy as np\nclass X:\n    def __init__(self):\n        {init}\n"
              "    def forward(self, x):\n        return x\n"
              "    def backward(self, dy):\n        return dy\n")
    (tmp_path / "mine.py").write_text(source)
    status, out, err = cli("gradcheck", *how, f"{tmp_path / 'mine.py'}:X")
    assert_one_line_error(status, err, fragment)
    assert out == ""


@pytest.mark.parametrize("body, fragment", [
    ('    params = {"W": [1.0, 2.0]}\n    grads = {"W": [0.0, 0.0]}\n',
     "params['W'] must be a NumPy array"),
    ("    def __getattr__(self, name):\n        raise RuntimeError('no ' + name)\n",
     "could not check"),
    ("    @property\n    def params(self):\n        raise KeyError('p')\n    grads = {}\n",
     "could not check"),
])
def test_a_layer_whose_attributes_misbehave_exits_2(cli, tmp_path, body, fragment):
    source = (f"import numpy as np\nclass X:\n{body}"
              "    def forward(self, x):\n        return np.array(x, dtype=object)\n"
              "    def backward(self, dy):\n        return dy\n")
    (tmp_path / "mine.py").write_text(source)
    status, _, err = cli("gradcheck", "--layer", f"{tmp_path / 'mine.py'}:X")
    assert_one_line_error(status, err, fragment)


def test_a_vae_answer_returning_none_or_no_gradients_is_wrong_not_a_crash(cli, tmp_path):
    right = (Path(__file__).parent.parent / "answers" / "right.py").read_text()
    for change, reason in (("return np.mean(rec + self.beta * kl)", "forward returns the loss"),
                           ("        self.enc.backward(self.relu1.backward(dh))\n",
                            "backward fills grads")):
        wrong = right.replace(change, "return None" if "mean" in change else
                              "        return\n" + change)
        (tmp_path / "mine.py").write_text(wrong)
        status, out, err = cli("gradcheck", "--exercise", "vae", f"{tmp_path / 'mine.py'}:MyVAE")
        assert status == 1 and reason in out and err == "", (out, err)


def test_broken_does_not_combine_with_a_users_code(cli):
    status, _, err = cli("gradcheck", "--broken", "kl-without-half", "--layer", "npvae:Dense")
    assert_one_line_error(status, err, "does not combine with")


def test_a_layer_too_wide_to_check_is_refused(cli):
    status, _, err = cli("gradcheck", "--layer", "npvae.nn.layers:Dense", "--inputs", "3000")
    assert_one_line_error(status, err, "must be at most 1,000")


def test_a_layer_that_adds_to_its_gradients_fails_the_overwrite_row(cli, tmp_path):
    source = ("import numpy as np\nclass X:\n    def __init__(self, n_in, n_out):\n"
              "        self.params = {'W': np.ones((n_in, n_out))}\n"
              "        self.grads = {'W': np.zeros((n_in, n_out))}\n"
              "    def forward(self, x):\n        self.x = x\n        return x @ self.params['W']\n"
              "    def backward(self, dy):\n        self.grads['W'] += self.x.T @ dy\n"
              "        return dy @ self.params['W'].T\n")
    (tmp_path / "mine.py").write_text(source)
    status, out, _ = cli("gradcheck", "--layer", f"{tmp_path / 'mine.py'}:X")
    assert status == 1 and "do not add to them (+=)" in out
