"""The machinery of one optimizer step, shared by every optimizer.

* :mod:`~optimizers.step.problem`: render the problem a model sees from the relevant subgraph.
* :mod:`~optimizers.step.replies`: the reply model, the checks of every proposed update
  (types, constraints) and the all-or-nothing apply.
* :mod:`~optimizers.step.trial`: trial runs of proposed code in a separate process
  (:mod:`~optimizers.step.trial_child` is the child's script).
* :mod:`~optimizers.step.records`: what a step returns and records (StepReport, requests).
"""
