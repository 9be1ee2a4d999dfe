"""The exercise checker's entry: ``judge(name, student)`` runs the checks of one exercise of
docs/EXERCISES.md (``npvae.teaching.exercises`` for the layers, ``npvae.teaching.exercise_models``
for the others) and gives its report. It needs NumPy and the teaching code alone."""

import numpy as np

from .adam_exercise import check_adam
from .exercise_models import check_difference, check_vae
from .exercises import check_layer_exercise
from .iwae_exercises import IWAE_LAYERS
from .layer_exercises import LAYERS
from .verdicts import Verdict, format_verdicts

MODELS = {"difference": ("Exercise 0: the centred difference", check_difference),
          "adam": ("Exercise 6: Adam", check_adam),
          "vae": ("Exercise 7: the whole VAE", check_vae)}

EXERCISES = ("difference", "dense", "relu", "tanh", "kl", "reparameterization", "bernoulli",
             "adam", "vae", "iwae", "stl", "dreg")
LAYERS = {**LAYERS, **IWAE_LAYERS}  # exercises 1 to 5, 9 and 10: an answer is a layer


def judge(name, student, random_state=0):
    """(report text, passed) for ``student``'s answer to exercise ``name``."""
    rng = np.random.default_rng(random_state)
    if name in LAYERS:
        title, verdicts = LAYERS[name].title, check_layer_exercise(LAYERS[name], student, rng)
    else:
        title, check = MODELS[name]
        verdicts = check(student, rng)
    if not verdicts:
        verdicts = [Verdict("something was checked", False, "nothing was: that is no pass")]
    return format_verdicts(f"{title}: {student.spec}", verdicts), all(v.passed for v in verdicts)
