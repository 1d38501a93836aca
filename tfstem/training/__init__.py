"""The training layer shared by every method: the method contract, the loop, the run folder, the façade.

* :class:`~tfstem.training.method.Method` — what a paper's trainer provides (config, build, data, one step
  returning named losses, what to checkpoint, what to deploy);
* :func:`~tfstem.training.loop.train` — the one loop (steps/epochs, budget, non-finite guard, Ctrl-C, tqdm,
  history, TensorBoard, checkpoints and resume, the run folder) returning a :class:`FitResult`;
* :func:`~tfstem.training.fit.fit` — ``tfstem.fit(method, data, *, preset=None, output_dir=None, **overrides)``;
* :mod:`~tfstem.training.cli` — ``tfstem train METHOD DATA -o DIR ...``, the same flags for every method.
"""

from tfstem.training.loop import RUN_OUTPUTS, STOP_REASONS, FitResult, train
from tfstem.training.method import Method

__all__ = ["Method", "train", "FitResult", "RUN_OUTPUTS", "STOP_REASONS"]
