"""The optimization-quality suite: does ``opt.step()`` make a workflow better on a small model?

Run it with ``python -m benchmarks.quality`` (flags: ``--family``, ``--optimizer``, ``--seeds``,
``--steps``, ``--smoke``, ``--vs-trace``; see ``__main__``). Results go to
``benchmarks/results/quality_<optimizer>_<date>[_<tag>].json`` with the machine's conditions.

Task families (``FAMILIES`` in ``benchmarks.quality.families``), each a small self-contained
workflow with a hidden target and automatic feedback; seed ``i`` picks the instance:

===========  ====  ===========================================================================
name         kind  what
===========  ====  ===========================================================================
number       (a)   one number, feedback "too small"/"too large" only; targets 0.37, 27.3, 1250
training     (b)   learning rate, epochs, optimizer and feature scaling of a tiny pure-Python
                   training loop; feedback is the final loss only
code         (c)   repair slugify / is_leap_year / invert_mapping from failing unit tests
code_more    (c)   repair parse_duration / dedupe / word_count (written after the strategy)
labels       (d)   prompt tuning, the same model answers: sentiment with exact labels POS/NEG
digits       (d)   prompt tuning, the same model answers: sums with the number alone
retrieval    (e)   retrieve -> rerank workflow (intermediate node), top_k and threshold; F1
extract      (f)   a name and an ISO date into a dict: trainable instruction and parser
invoice      (f)   vendor, numeric total and currency code into a dict: instruction and parser
                   (a second extraction task, written after the strategy was built on extract)
number_b     (a)   held out: one number, feedback "higher"/"lower" only; 0.052, 640, 8400
training_b   (b)   held out: learning rate, batch size, weight decay and schedule of mini-batch
                   SGD (logistic regression); feedback is the validation loss only
pipeline     (e)   held out: smooth -> detect sensor workflow, window and threshold; F1
code_b       (c)   held out: repair roman_to_int / chunk / camel_to_snake
contact      (f)   held out: name, lowercase e-mail and digits-only phone: instruction and parser
topics       (d)   held out: prompt tuning, tickets routed as BILLING / TECHNICAL / SHIPPING
===========  ====  ===========================================================================

The held-out families (``heldout_tasks``, ``heldout_specs``; ``contact`` and ``topics`` with
their kind's data in ``prompt_data``) were written after the optimizer
was tuned, independently of the others, to check that it carries over to unseen tasks.

The API (other code, e.g. an optimizer's own tests, may import it)::

    from benchmarks.quality.families import FAMILIES
    from benchmarks.quality.runner import run_task

    task = FAMILIES["number"].make(seed, student)  # student: the task model, or None when
                                                   # FAMILIES[name].uses_model is False
    task.params                 # trainable parameters at their starting values
    episode = task.run()        # the traced workflow: episode.feedback [(output node, text)],
                                # episode.score (higher is better), episode.solved
    task.evaluate(values)       # score of {name: value}, untraced (for BestOfN/BeamSearch)
    task.held_out()             # e.g. {"test_accuracy": 0.5} (prompt families; else None)
    record = run_task(task, "graph", llm, steps=12)   # one run, with its books

Stdlib-only targets, simulations and judges live in ``specs`` (Trace's runner uses them too).
A run's record counts steps, model calls and tokens (optimizer and task model apart), wall
time, steps that changed nothing, and *silent no-ops*: steps that changed nothing and reported
no reason (no rejection, error, skip reason or note in the ``StepReport``).
"""
