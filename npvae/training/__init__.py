"""Training: ``fit`` (the epoch loop, early stopping, checkpoints), the divergence rule, the two
engines (the fast two-share engine and the reference engine) and the schedules."""

from .divergence import TrainingDiverged
from .fit import fit
from .parallel import CoupledParallel, DataParallel
from .reference_engine import ReferenceAdam, ReferencePass

__all__ = ["fit", "TrainingDiverged", "DataParallel", "CoupledParallel", "ReferencePass",
           "ReferenceAdam"]
