"""The one node type of the graph, and the small value types that travel with it."""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracegraph.context import CURRENT_READS

if TYPE_CHECKING:
    from tracegraph.params import ParamSpec

__all__ = ["Feedback", "Node", "NodeKind", "Received", "SourceLocation", "combine_feedback"]


class NodeKind(enum.Enum):
    """The closed vocabulary of node kinds."""

    PARAMETER = "parameter"  # a trainable leaf: its value is what optimizers change
    INPUT = "input"  # a fixed input given by the user (``tg.node``)
    CONSTANT = "constant"  # a literal that entered an op (e.g. the ``1`` in ``y + 1``)
    CALL = "call"  # the result of an op
    EXCEPTION = "exception"  # an op that raised: value is an ExceptionInfo


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where in the user's code a node was made."""

    file: str
    line: int
    function: str = ""
    code: str = ""  # the source line itself, stripped

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


UNKNOWN_LOCATION = SourceLocation("<unknown>", 0)


@dataclass(frozen=True, slots=True)
class Feedback:
    """Feedback on an output: a sentence, a score, or both.

    >>> Feedback.coerce("too long")
    Feedback(text='too long', score=None)
    >>> Feedback.coerce(0.5)
    Feedback(text='', score=0.5)
    """

    text: str = ""
    score: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"Feedback.text must be a str, got {type(self.text).__name__}")
        if self.score is not None and (
            isinstance(self.score, bool)
            or not isinstance(self.score, (int, float))
            or math.isnan(self.score)
        ):
            raise TypeError(f"Feedback.score must be a number or None, got {self.score!r}")

    @classmethod
    def coerce(cls, value: Feedback | str | float | int) -> Feedback:
        """Turn text, a number or a Feedback into a Feedback; raise TypeError otherwise."""
        if isinstance(value, Feedback):
            return value
        if isinstance(value, str):
            return cls(text=value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(score=float(value))
        raise TypeError(
            f"feedback must be text, a number or tg.Feedback(text=..., score=...), "
            f"got {type(value).__name__}: {value!r}"
        )

    def __str__(self) -> str:
        if self.score is None:
            return self.text
        return f"[score {self.score:g}] {self.text}".rstrip()


def combine_feedback(feedbacks: Sequence[Feedback]) -> Feedback:
    """Merge feedbacks: drop repeats, join the distinct texts by newlines, average the scores.

    Text does not add like gradients: the same sentence arriving through two paths is said
    once. Scores are averaged over the distinct feedbacks that carry one.

    >>> combine_feedback([Feedback("a", 1.0), Feedback("b", 0.0), Feedback("a", 1.0)])
    Feedback(text='a\\nb', score=0.5)
    """
    unique = list(dict.fromkeys(feedbacks))
    if len(unique) == 1:
        return unique[0]
    texts = dict.fromkeys(fb.text for fb in unique if fb.text)
    scores = [fb.score for fb in unique if fb.score is not None]
    return Feedback("\n".join(texts), sum(scores) / len(scores) if scores else None)


@dataclass(frozen=True, slots=True)
class Received:
    """One piece of feedback that reached a node: from which output, and what it said there."""

    output: Node
    feedback: Feedback


# Creation order within this process: the deterministic tie-breaker of every ordering (never a
# name; names are local to each view, see tracegraph.names). Unique among live nodes here.
_ids = itertools.count()


class Node:
    """A value in the graph: its parents, how it was made and where.

    Nodes hash and compare by identity in containers (``__hash__`` is ``object.__hash__``);
    the ``==`` operator itself is traced (see ``tracegraph.operators``), so never test
    membership of a node in a list: key dicts and sets by the node itself.
    Users make nodes with ``tg.param``, ``tg.node`` and ops, not with this constructor.
    """

    __slots__ = (
        "__weakref__",
        "_feedback",
        "_meta",
        "_received",
        "_value",
        "arg_names",
        "code_param",
        "doc",
        "kind",
        "location",
        "name",
        "op",
        "parents",
        "spec",
        "uid",
    )

    def __init__(
        self,
        value: Any,
        kind: NodeKind,
        name: str,
        op: str | None = None,
        parents: tuple[Node, ...] = (),
        arg_names: tuple[str, ...] = (),
        location: SourceLocation = UNKNOWN_LOCATION,
        meta: dict[str, Any] | None = None,
        spec: ParamSpec | None = None,
        doc: str = "",
        code_param: Node | None = None,
    ) -> None:
        self._value = value
        self.kind = kind
        self.name = name
        self.op = op  # the op's name for CALL/EXCEPTION nodes
        self.parents = parents
        self.arg_names = arg_names  # one label per parent: "x", "args[1]", "<read>"
        self.location = location
        self._meta = meta  # made on first use (see ``meta``): most nodes never hold any
        self.spec = spec  # set for PARAMETER nodes only
        self.doc = doc  # what the op does (CALL/EXCEPTION nodes): its docstring's first paragraph
        self.code_param = code_param  # the code parameter of a trainable function's call
        # The two feedback lists are made on first use: most nodes never get any, and two
        # fewer containers per node halve the garbage collector's work on long traces.
        self._feedback: list[Feedback] | None = None
        self._received: list[Received] | None = None
        self.uid = next(_ids)  # creation order in this process: the sort key of every order

    __hash__ = object.__hash__

    def __setstate__(self, state: Any) -> None:
        """Unpickling (or copying) makes a new node of this process: it gets a fresh ``uid``.

        A ``uid`` is a creation sequence number of one process; kept across processes it would
        collide with nodes made there, and orders keyed by it would tie (issue 10, bug 7a).
        Parents are restored before their children, so their new numbers stay smaller.
        """
        slots = state[1] if isinstance(state, tuple) else state
        for key, value in slots.items():
            object.__setattr__(self, key, value)
        self.uid = next(_ids)

    @property
    def value(self) -> Any:
        """The plain value. Reading it inside an op body records this node as a parent."""
        reads = CURRENT_READS.get()
        if reads is not None:
            reads[id(self)] = self
        return self._value

    def peek(self) -> Any:
        """The plain value, read without side effects: never recorded as an implicit read.

        For library code (optimizers, renderers, trainers) that looks at values from outside
        any op; inside an op body, ``.value`` is the read that counts.

        >>> import tracegraph as tg
        >>> tg.param(3, name="p").peek()
        3
        """
        return self._value

    def restore(self, value: Any) -> None:
        """Put back a value this parameter held before, exactly: unchecked and unnormalised.

        For undoing a step (the old value passed the checks when it was set); new values go
        through :meth:`set_value`.
        """
        self._value = value

    @property
    def meta(self) -> dict[str, Any]:
        """Free-form data about the node (``"exception"``, ``"implicit"``, a user's own keys)."""
        if self._meta is None:
            self._meta = {}
        return self._meta

    @meta.setter
    def meta(self, items: dict[str, Any]) -> None:
        self._meta = items

    @property
    def feedback(self) -> list[Feedback]:
        """Feedback given to this node directly by backward."""
        if self._feedback is None:
            self._feedback = []
        return self._feedback

    @feedback.setter
    def feedback(self, items: list[Feedback]) -> None:
        self._feedback = items

    @property
    def received(self) -> list[Received]:
        """Feedback that reached this node through backward (parameters)."""
        if self._received is None:
            self._received = []
        return self._received

    @received.setter
    def received(self, items: list[Received]) -> None:
        self._received = items

    @property
    def trainable(self) -> bool:
        return self.kind is NodeKind.PARAMETER and self.spec is not None and self.spec.trainable

    def set_value(self, value: Any) -> None:
        """Give a parameter a new value after checking it against the parameter's spec.

        Raises ParameterError (and changes nothing) when the value breaks the spec.
        """
        from tracegraph.errors import ParameterError

        if self.kind is not NodeKind.PARAMETER or self.spec is None:
            raise ParameterError(
                "only parameters can be assigned", self, fix="create it with tg.param(...)"
            )
        problems = self.spec.check(value)
        if problems:
            raise ParameterError(
                f"value {value!r:.200} rejected: " + "; ".join(problems),
                self,
                fix=f"give a value of kind {self.spec.type.value} that meets the constraints",
            )
        self._value = self.spec.normalize(value)

    def zero_feedback(self) -> None:
        """Forget feedback given to or received by this node."""
        if self._feedback:
            self._feedback.clear()
        if self._received:
            self._received.clear()

    def __repr__(self) -> str:
        shown = repr(self._value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return f"Node({self.name}={shown}, {self.kind.value})"

    if TYPE_CHECKING:
        # Installed by tracegraph.operators, which sits above this module (it makes nodes):
        # the traced operators, each a row of operators.OPERATORS, and backward().
        def backward(self, feedback: Any, **kwargs: Any) -> Any: ...
        def len(self) -> Any: ...
        def __add__(self, other: Any) -> Any: ...
        def __radd__(self, other: Any) -> Any: ...
        def __sub__(self, other: Any) -> Any: ...
        def __rsub__(self, other: Any) -> Any: ...
        def __mul__(self, other: Any) -> Any: ...
        def __rmul__(self, other: Any) -> Any: ...
        def __truediv__(self, other: Any) -> Any: ...
        def __rtruediv__(self, other: Any) -> Any: ...
        def __floordiv__(self, other: Any) -> Any: ...
        def __rfloordiv__(self, other: Any) -> Any: ...
        def __mod__(self, other: Any) -> Any: ...
        def __rmod__(self, other: Any) -> Any: ...
        def __pow__(self, other: Any) -> Any: ...
        def __rpow__(self, other: Any) -> Any: ...
        def __matmul__(self, other: Any) -> Any: ...
        def __rmatmul__(self, other: Any) -> Any: ...
        def __and__(self, other: Any) -> Any: ...
        def __rand__(self, other: Any) -> Any: ...
        def __or__(self, other: Any) -> Any: ...
        def __ror__(self, other: Any) -> Any: ...
        def __xor__(self, other: Any) -> Any: ...
        def __rxor__(self, other: Any) -> Any: ...
        def __lshift__(self, other: Any) -> Any: ...
        def __rlshift__(self, other: Any) -> Any: ...
        def __rshift__(self, other: Any) -> Any: ...
        def __rrshift__(self, other: Any) -> Any: ...
        def __eq__(self, other: Any) -> Any: ...
        def __ne__(self, other: Any) -> Any: ...
        def __lt__(self, other: Any) -> Any: ...
        def __le__(self, other: Any) -> Any: ...
        def __gt__(self, other: Any) -> Any: ...
        def __ge__(self, other: Any) -> Any: ...
        def __neg__(self) -> Any: ...
        def __pos__(self) -> Any: ...
        def __abs__(self) -> Any: ...
        def __invert__(self) -> Any: ...
        def __round__(self, ndigits: int | None = None) -> Any: ...
        def __getitem__(self, key: Any) -> Any: ...
        def __getattr__(self, name: str) -> Any: ...
        def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
        def __iter__(self) -> Iterator[Any]: ...

    # These must return plain Python values, so they record no node (see operators.py).
    def __bool__(self) -> bool:
        return bool(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __contains__(self, item: Any) -> bool:
        return (item.value if isinstance(item, Node) else item) in self.value

    # tracegraph.operators replaces these two with versions that warn when tracing (text made
    # from a node outside an op body is cut off from the graph: TraceLostWarning).
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)
