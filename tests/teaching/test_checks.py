import textwrap

import numpy as np
import pytest

from npvae import VAE
from npvae.teaching.checks import BROKEN, kink_note, smallest_relu_input
from npvae.teaching.gradcheck import check_model


def test_gradcheck_passes_on_npvae(cli):
    status, out, _ = cli("gradcheck")
    assert status == 0, out
    assert "gradient check: 131 of 131 rows passed" in out
    for title in ("Dense", "ReLU", "Tanh", "Sigmoid", "KL", "Bernoulli", "Gaussian",
                  "Reparameterization", "Whole VAE", "LeakyReLU", "Whole beta-TCVAE 12-8-3, MSS",
                  "Whole beta-TCVAE 12-8-3, MWS", "FactorVAE discriminator", "Whole FactorVAE"):
        assert f"== {title}" in out


@pytest.mark.parametrize("name, failing", [
    ("variance-as-std", ["logvar ", "logvar_head.W", "encoder.0.W"]),
    ("kl-without-half", ["logvar ", "logvar_head.b"]),
])
def test_each_broken_variant_fails_with_status_1(cli, name, failing):
    status, out, _ = cli("gradcheck", "--broken", name)
    assert status == 1 and "FAILED" in out and BROKEN[name][2] in out
    failed_lines = [line for line in out.splitlines() if line.endswith("FAIL")]
    for fragment in failing:
        assert any(line.startswith(fragment) for line in failed_lines), (fragment, failed_lines)
    assert not any(line.startswith(("W ", "b ", "mu ")) for line in failed_lines)


GOOD_LAYER = """
import numpy as np

class Scale:
    '''y = x * s (elementwise, s of shape (I,))'''
    def __init__(self, n_in, n_out):
        self.params = {"s": np.linspace(0.5, 2.0, n_in)}
        self.grads = {"s": np.zeros(n_in)}

    def forward(self, x):
        self.x = x
        return x * self.params["s"]

    def backward(self, dy):
        self.grads["s"][...] = (dy * self.x).sum(axis=0)
        return dy * self.params["s"]
"""


@pytest.fixture
def layer_file(tmp_path):
    def write(source, name="mylayer.py"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        return path
    return write


def test_a_correct_user_layer_passes(cli, layer_file):
    status, out, _ = cli("gradcheck", "--layer", f"{layer_file(GOOD_LAYER)}:Scale")
    assert status == 0 and "(your layer)" in out and "2 of 2 passed" in out


def test_a_layer_without_parameters_may_leave_out_params_and_grads(cli, layer_file):
    source = "class Double:\n    def forward(self, x):\n        return 2 * x\n" \
             "    def backward(self, dy):\n        return 2 * dy\n"
    status, out, err = cli("gradcheck", "--layer", f"{layer_file(source)}:Double")
    assert status == 0 and "1 of 1 passed" in out, out + err


def test_a_wrong_user_layer_fails(cli, layer_file):
    wrong = GOOD_LAYER.replace("(dy * self.x).sum(axis=0)", "dy.sum(axis=0)")
    status, out, _ = cli("gradcheck", "--layer", f"{layer_file(wrong)}:Scale")
    assert status == 1
    assert any(line.startswith("s ") and line.endswith("FAIL") for line in out.splitlines())


def test_a_user_layer_by_module_name(cli, layer_file, monkeypatch):
    path = layer_file(GOOD_LAYER, "userlayer_module.py")
    monkeypatch.chdir(path.parent)
    monkeypatch.syspath_prepend(str(path.parent))
    status, _, _ = cli("gradcheck", "--layer", "userlayer_module:Scale")
    assert status == 0


@pytest.mark.parametrize("source, spec, fragment", [
    ("class Nope:\n    def forward(self, x):\n        return x\n", "Nope",
     "does not follow the layer interface: it lacks backward"),
    (GOOD_LAYER.replace('self.grads = {"s": np.zeros(n_in)}', ""), "Scale",
     "does not follow the layer interface: it lacks a dict grads"),
    (GOOD_LAYER, "Missing", "has no Missing"),
    ("def broken(:\n", "X", "cannot import"),
    (GOOD_LAYER.replace("np.linspace(0.5, 2.0, n_in)", "np.ones(n_in, np.float32)"), "Scale",
     "must be float64"),
    (GOOD_LAYER.replace("(dy * self.x).sum(axis=0)", "dy @ self.x"), "Scale",
     "backward raised ValueError"),
    (GOOD_LAYER.replace("self.x = x", "import sys; sys.exit(0)"), "Scale",
     "forward raised SystemExit: 0 (mylayer.py, line 11)"),
    ("import sys\nsys.exit(0)\n", "X", "cannot import"),
])
def test_a_layer_that_does_not_fit_exits_2(cli, layer_file, source, spec, fragment):
    status, _, err = cli("gradcheck", "--layer", f"{layer_file(source)}:{spec}")
    assert status == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_a_missing_layer_file_exits_2(cli, tmp_path):
    status, _, err = cli("gradcheck", "--layer", f"{tmp_path / 'none.py'}:X")
    assert status == 2 and "no file" in err
    status, _, err = cli("gradcheck", "--layer", "/etc/passwd:X")
    assert status == 2 and "cannot import /etc/passwd: SyntaxError" in err


@pytest.mark.parametrize("change, fragment", [
    (("return dy * self.params[\"s\"]", "return (dy * self.params[\"s\"])[0]"),
     "the gradient has shape (5,)"),
    (("return dy * self.params[\"s\"]", "pass"), "backward returned None"),
    (("return x * self.params[\"s\"]", "return float(np.sum(x))"), "one row per example"),
])
def test_a_layer_that_breaks_the_interface_fails(cli, layer_file, change, fragment):
    """No check may pass having checked nothing: a missing or misshapen result is a failure."""
    status, out, _ = cli("gradcheck", "--layer",
                         f"{layer_file(GOOD_LAYER.replace(*change))}:Scale")
    assert status == 1 and fragment in out, out


def test_the_optimizer_check(cli, layer_file):
    status, out, _ = cli("gradcheck", "--optimizer", "npvae.nn.optim:Adam")
    assert status == 0 and "then [0.819696, -1.857215]" in out
    no_correction = """
    import numpy as np

    class Adam:
        def __init__(self, params, lr, betas, eps):
            self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
            self.m = np.zeros_like(params.vector)
            self.v = np.zeros_like(params.vector)

        def step(self):  # forgets the bias correction
            b1, b2 = self.betas
            g = self.params.grad
            self.m = b1 * self.m + (1 - b1) * g
            self.v = b2 * self.v + (1 - b2) * g * g
            self.params.vector -= self.lr * self.m / (np.sqrt(self.v) + self.eps)
    """
    status, out, _ = cli("gradcheck", "--optimizer", f"{layer_file(no_correction)}:Adam")
    assert status == 1 and "FAIL" in out


def test_a_failure_at_a_relu_kink_is_explained():
    """All of decoder.0's units dead for every example puts decoder.2's inputs exactly at the kink
    (zero bias): the check fails there, and the note says why."""
    rng = np.random.default_rng(0)
    model = VAE(6, (5, 4), 2, dtype=np.float64, random_state=0)
    model.params.values["decoder.0.b"][...] = -50.0
    x, eps = rng.random((3, 6)), rng.standard_normal((3, 2))
    assert smallest_relu_input(model, x, eps) == 0.0
    rows = check_model(model, x, eps)
    assert not all(r.passed for r in rows)
    assert "the kink, not a bug" in kink_note(model, x, eps, rows)


def test_a_real_bug_gets_no_kink_note():
    rng = np.random.default_rng(0)
    model = VAE(6, (5, 4), 2, dtype=np.float64, random_state=0)
    x, eps = rng.random((3, 6)), rng.standard_normal((3, 2))
    original = model.mu_head.backward
    model.mu_head.backward = lambda dy: original(2 * dy)
    rows = check_model(model, x, eps)
    assert not all(r.passed for r in rows) and kink_note(model, x, eps, rows) is None


@pytest.mark.parametrize("name, sections", [
    ("variance-as-std", ["Whole VAE 12-8-6-3", "Whole beta-TCVAE 12-8-3, MSS",
                         "Whole beta-TCVAE 12-8-3, MWS", "Whole FactorVAE"]),
    ("kl-without-half", ["Whole VAE 12-8-6-3", "Whole FactorVAE"]),
])
def test_a_broken_formula_reaches_every_model_that_uses_it(cli, name, sections):
    """The batch-coupled models import the formula by name: they must be broken too."""
    out = cli("gradcheck", "--broken", name)[1]
    for section in sections:
        body = out.split(f"== {section}")[1].split("\n== ")[0]
        assert "FAIL" in body, section
    assert cli("gradcheck")[0] == 0  # and mended after the block
