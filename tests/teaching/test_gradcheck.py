import numpy as np

from npvae.teaching.gradcheck import (check_array, compare, format_report, numerical_gradient,
                                      rel_error)


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    np.testing.assert_allclose(numerical_gradient(lambda: np.sum(x**3), x), 3 * x**2, rtol=1e-9)
    assert np.array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored


def test_numerical_gradient_at_chosen_indices():
    x = np.arange(5.0)
    np.testing.assert_allclose(numerical_gradient(lambda: np.sum(x**2), x, indices=[4, 1]),
                               [8.0, 2.0], rtol=1e-9)


def test_rel_error_convention():
    assert rel_error(1.0, 1.0) == 0
    assert rel_error(1.0, -1.0) == 1
    assert rel_error(0.0, 0.0) == 0
    assert rel_error(0.0, 1e-9) == 0.1  # the floor of 1e-8


def test_a_wrong_gradient_fails_and_the_report_says_so():
    x = np.array([1.0, 2.0, 3.0])
    good = check_array("x", lambda: np.sum(x**2), x, 2 * x)
    bad = check_array("x", lambda: np.sum(x**2), x, 2 * x + [0, 0, 1e-3])
    assert good.passed and good.worst_error < 1e-9
    assert not bad.passed and bad.worst_error > 1e-5
    report = format_report([good, bad])
    assert "FAIL" in report and "1 of 2 passed" in report


def test_a_factor_is_named_only_where_it_holds_at_every_coordinate():
    """A ReLU whose backward multiplies by its output: at one coordinate the ratio was 0.1413,
    within 2% of 1/7 (the batch size), yet no batch mean is to blame."""
    numerical = np.array([[1.45802, 1.0, 2.0], [0.5, 3.0, 1.5]])
    analytic = numerical * np.array([[0.1413, 0.9, 0.4], [1.0, 0.2, 0.7]])
    factors = ((1 / 7, "1/N = 1/7 of the right value"),)
    row = compare("x", analytic, numerical, factors=factors)
    assert not row.passed and row.worst_index == (0, 0) and "1/N" not in row.note
    assert "1/N" in compare("x", numerical / 7, numerical, factors=factors).note
    assert "1/2" in compare("x", 2 * numerical, numerical).note
