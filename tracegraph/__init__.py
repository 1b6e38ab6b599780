"""tracegraph: trace plain Python into a graph, propagate feedback, let an LLM optimize."""
