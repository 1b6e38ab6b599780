"""Runnable examples of tracegraph; each has ``main(argv, llm=None)`` and ``run(llm, ...)``."""
