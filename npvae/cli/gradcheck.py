"""``npvae gradcheck``: the gradient checks, a user's layer and the exercises."""

import argparse
import contextlib

from ..teaching.judge import EXERCISES, judge
from ..teaching.student import CouldNotCheck, Student


def checking(spec, check):
    """``check()``, with anything the user's code makes it raise (beyond what ``Student.call``
    already catches: an attribute that raises, an array of objects, ...) as CouldNotCheck: one
    line, exit status 2, never a traceback."""
    try:
        return check()
    except (CouldNotCheck, KeyboardInterrupt, MemoryError):
        raise
    except Exception as error:
        raise CouldNotCheck(f"could not check {spec}: {type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else '(no message)'}")\
            from None


# The exercises, as ``npvae gradcheck --list`` prints them: the docs (docs/EXERCISES.md in the
# repository) derive each one; this is what an installed npvae can say without them.
EXERCISE_LIST = """\
The exercises: derive each piece on paper, write it in a file of your own (mine.py), and let
npvae judge it: its values against npvae's formulas, its gradients against finite differences,
the interface's rules and the exercise's lesson. Read npvae/reference.py first
(python -c "import npvae.reference as r; print(r.__file__)" says where it is installed).

  0  difference          numerical_gradient(f, x, h=1e-5) and rel_error(a, n): centred
                         differences and the relative error |a - n| / max(1e-8, |a| + |n|)
  1  dense               class MyDense(n_in, n_out): y = x W + b
  2  relu, tanh          class MyReLU(), class MyTanh(): y = max(x, 0), y = tanh(x)
  3  kl                  class MyKL(): KL = -1/2 sum_k (1 + logvar - mu^2 - exp(logvar)), input
                         h = [mu, logvar] (N, 2K), output (N, 1)
  4  reparameterization  class MyReparameterization(): z = mu + exp(logvar / 2) * eps
  5  bernoulli           class MyBernoulliNLL(): the negative log-likelihood from logits
  6  adam                class MyAdam(params, lr, betas, eps): step() updates params in place
  7  vae                 class MyVAE(input_dim, hidden_dim, latent_dim, beta): the whole model
  8  (no checker)        why reparameterize: python scripts/gradient_estimators.py
  9  iwae                class MyIWAE(K, L): the importance-weighted bound of a linear Gaussian
                         model with K draws, h = [mu, logvar] (N, 2L) -> (N, 1), and its gradient
 10  stl, dreg           class MySTL(K, L), class MyDReG(K, L): exercise 9's bound, with the
                         gradients of sticking the landing and DReG

Judge one:  npvae gradcheck --exercise NAME mine.py:CLASS   (0: right, 1: wrong, 2: no run)

A layer (1 to 5, 9, 10): forward(x) returns y and keeps what backward needs; backward(dy) returns
dL/dx, does not change dy, and overwrites dL/dparameter in self.grads[key] (never +=);
self.params and self.grads are dicts of float64 arrays with the same keys (a layer without
parameters may leave them out). Each call returns new arrays: the checker calls your code as
a training loop does (two forwards before a backward, batches of other sizes, new parameters
written in place) and keeps what earlier calls returned. The noise of exercise 4 is
np.random.default_rng(0).standard_normal((N, K)) and the targets of exercise 5
np.random.default_rng(0).random((N, D)), made anew for each new batch shape."""


def exercise_only(argv):
    """The arguments when ``argv`` is only ``gradcheck --exercise NAME FILE:CLASS [--seed N]``,
    else None. Such a call needs NumPy and the teaching code alone, so ``main`` runs it before
    importing the rest of npvae (scikit-learn, matplotlib, the training code)."""
    if argv[:1] != ["gradcheck"] or "--exercise" not in argv:
        return None
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--exercise", nargs=2)
    parser.add_argument("--seed", type=int, default=0)
    try:
        args, rest = parser.parse_known_args(argv[1:])
    except argparse.ArgumentError:
        return None  # the full parser says what is wrong
    if rest or args.seed < 0:
        return None
    return argparse.Namespace(command="gradcheck", func=gradcheck, exercise=args.exercise,
                              seed=args.seed, list=False, broken=None, layer=None,
                              optimizer=None)


def gradcheck(args):
    """Exit status 0 when every check passes, 1 when one fails, 2 when the user's code could
    not be checked (it could not be loaded, built or run: one line saying where)."""
    if args.list:
        print(EXERCISE_LIST)
        return 0
    exercise = args.exercise or (("adam", args.optimizer) if args.optimizer else None)
    if args.broken and (exercise or args.layer):
        raise ValueError("--broken breaks npvae's own formulas, to show a failing report; it "
                         "does not combine with --exercise, --optimizer or --layer")
    if exercise is not None:
        name, spec = exercise
        if name not in EXERCISES:
            raise ValueError(f"--exercise: no exercise {name!r}; expected one of "
                             f"{', '.join(EXERCISES)}")
        text, passed = checking(spec, lambda: judge(name, Student(spec), args.seed))
    elif args.layer:
        from ..teaching.checks import Section, report, user_layer_rows  # the models: heavier
        rows = checking(args.layer, lambda: user_layer_rows(Student(args.layer), args.inputs,
                                                            args.outputs, args.seed))
        text, passed = report([Section(f"{args.layer} (your layer)", rows)])
    else:
        from ..teaching.checks import BROKEN, broken, report, standard_sections
        if args.broken:
            print(f"BROKEN on purpose ({args.broken}): {BROKEN[args.broken][2]}\n")
        with broken(args.broken) if args.broken else contextlib.nullcontext():
            text, passed = report(standard_sections(args.seed))
    print(text)
    return 0 if passed else 1
