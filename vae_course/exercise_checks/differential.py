"""The checks every exercise task shares, written once: the learner's function against the
course's reference over the whole input domain its docstring states, and the guards around
every call.

- ``differential`` draws inputs with Hypothesis (seeded, a bounded number of examples, nothing
  written to disk), calls the reference solution (``solutions/exNN_*.py``) and the learner's
  function on fresh copies of each, and fails on the smallest input it finds where they
  disagree, printing that input, the expected and the actual value. It compares the return
  type, dtype, shape, device and values; the exceptions (their type, and the values their
  message must name); and the gradients that must (or must not) reach the inputs.
- ``guarded_call`` wraps every call a check makes (``exercises._Answers`` uses it), so that a
  function that changes its argument in place is told so before any value is compared.
- ``expect_gradients`` says which input no gradient reaches, by name.
- A few strategies that draw the course's inputs: float tensors with edge values, dtypes,
  seeded generators (``Seeded``) and named functions (``Named``).
"""
from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import traceback
from collections.abc import Callable, Sequence

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from vae_course import exercise_files
from vae_course.exercise_checks.common import expect_close, expect_tensor

MAX_EXAMPLES = 40  # inputs drawn per task: enough to reach every corner below, a second or so
# Seeded, nothing stored, no time limit per example, quiet; draw, then shrink (no "explain" phase,
# which reruns a failure many times to say which parts of it matter).
SETTINGS = dict(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck),
                verbosity=Verbosity.quiet, phases=(Phase.generate, Phase.shrink))
FLOATS = (torch.float32, torch.float64)


@contextlib.contextmanager
def one_thread():
    """One torch thread while a check runs (its tensors are tiny, and more threads only wait for
    each other: 100 QRs of a 6 x 4 matrix took 3.6 s on 2 threads of a loaded machine, 1 ms on
    one); the caller's thread count is restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- Inputs left as they were -----------------------------------------------------------------


class ChangedArgument(AssertionError):
    """A learner's function changed one of its arguments in place."""


_UNGUARDED = object()


def _snapshot(value: object) -> object:
    """A copy of the data in ``value`` (tensors, arrays, lists, tuples, dicts of them); models,
    optimisers, generators and functions are not guarded (changing them can be the task)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_snapshot(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_snapshot(v) for v in value)
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    return value if isinstance(value, (int, float, str, bool, type(None))) else _UNGUARDED


def _equal(before: object, after: object) -> bool:
    if isinstance(before, torch.Tensor):
        if not isinstance(after, torch.Tensor) or before.shape != after.shape or before.dtype != after.dtype:
            return False
        after = after.detach().to(before.device)
        both_nan = torch.isnan(before) & torch.isnan(after) if before.is_floating_point() else False
        return bool(((before == after) | both_nan).all())
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and before.shape == after.shape and before.dtype == after.dtype
                and bool(np.all((before == after) | ((before != before) & (after != after)))))
    if isinstance(before, (list, tuple)):
        return (type(after) is type(before) and len(after) == len(before)
                and all(_equal(b, a) for b, a in zip(before, after)))
    if isinstance(before, dict):
        return isinstance(after, dict) and before.keys() == after.keys() and all(_equal(before[k], after[k])
                                                                                   for k in before)
    return before is _UNGUARDED or before == after or before != before


def guarded_call(name: str, fn: Callable, args: tuple, kwargs: dict) -> object:
    """``fn(*args, **kwargs)``, failing with ``ChangedArgument`` when it changed an argument
    (a tensor, an array, a list) in place: the caller's data must come back as it went in."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):  # a call the function cannot take: let it say so itself
        return fn(*args, **kwargs)
    before = {key: _snapshot(value) for key, value in bound.arguments.items()}
    result = fn(*args, **kwargs)
    for key, old in before.items():
        if not _equal(old, bound.arguments[key]):
            raise ChangedArgument(f"your function {name} changed its argument {key} in place; work on a copy "
                                  f"({key}.clone() for a tensor) and leave the caller's {key} as it was")
    return result


# --- Gradients -----------------------------------------------------------------------------------


def _float_parts(value: object) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value] if value.is_floating_point() else []
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _float_parts(v)]
    if isinstance(value, dict):
        return [t for k in sorted(value) for t in _float_parts(value[k])]
    return []


def _weighted_sum(value: object, weighted: bool) -> torch.Tensor | None:
    """sum_k <w_k, out_k> over the float tensors of ``value``, with fixed random weights w_k
    (all 1 unless ``weighted``): its gradient is a vector-Jacobian product that sees every
    output entry."""
    parts = _float_parts(value)
    g = torch.Generator().manual_seed(0)
    terms = [((torch.randn(p.shape, generator=g, dtype=torch.float64).to(p) if weighted else 1) * p).sum()
             for p in parts if p.requires_grad]
    return sum(terms) if terms else None


def expect_gradients(name: str, output: object, inputs: dict[str, torch.Tensor], must_not: Sequence[str] = (),
                     weighted: bool = True, required: Sequence[str] | None = None) -> dict[str, torch.Tensor | None]:
    """The gradients of a (randomly, unless not ``weighted``) weighted sum of the entries of
    ``output`` with respect to ``inputs`` (leaf tensors that require grad). Fail, naming the
    input, when no gradient reaches one that must get it (those in ``required``; by default
    every input not in ``must_not``), or when a nonzero gradient reaches one in ``must_not``."""
    wanted = [k for k in inputs if k not in must_not] if required is None else list(required)
    total = _weighted_sum(output, weighted)
    if total is None:
        if wanted:
            raise AssertionError(f"no gradient reaches {' or '.join(wanted)}: the result of {name} does not depend "
                                 "differentiably on its inputs (a .detach(), .item(), .numpy(), torch.no_grad() or "
                                 "torch.tensor(...) of computed numbers on the way?)")
        return {k: None for k in inputs}
    grads = dict(zip(inputs, torch.autograd.grad(total, list(inputs.values()), allow_unused=True,
                                                 retain_graph=True)))
    for key in wanted:
        if grads[key] is None:
            raise AssertionError(f"no gradient reaches {key}: the result of {name} does not depend differentiably "
                                 f"on {key} (a .detach(), .item() or torch.no_grad() on the way from {key}?)")
    for key in must_not:
        if grads[key] is not None and bool(grads[key].any()):
            raise AssertionError(f"a gradient reaches {key} through {name}, and none may: wrap the part that "
                                 f"depends on {key} in .detach() (the stop-gradient)")
    return grads


def _float_pairs(label: str, got: object, expected: object, parts: Sequence[str] | None = None):
    """(label, got part, expected part) for each float tensor of a result, the parts of a tuple
    named by ``parts`` (``expect_same`` has checked that the two results have one structure)."""
    if isinstance(expected, torch.Tensor):
        if expected.is_floating_point():
            yield label, got, expected
    elif isinstance(expected, (tuple, list)):
        for i, (g, e) in enumerate(zip(got, expected)):
            yield from _float_pairs(f"{label} (its {parts[i]})" if parts else f"{label}[{i}]", g, e)
    elif isinstance(expected, dict):
        for key in expected:
            yield from _float_pairs(f"{label}[{key!r}]", got[key], expected[key])


# --- Comparing with the reference -------------------------------------------------------------


def _tolerance(expected: torch.Tensor, atol: float | None, rtol: float | None) -> tuple[float, float]:
    single = expected.dtype in (torch.float32, torch.float16, torch.bfloat16)
    return (1e-4 if single else 1e-8) if atol is None else atol, (1e-4 if single else 1e-8) if rtol is None else rtol


def expect_same(name: str, got: object, expected: object, *, atol: float | None = None,
                rtol: float | None = None, parts: Sequence[str] | None = None) -> None:
    """Fail unless ``got`` has the reference's type, structure (tuple length, dict keys), and,
    for tensors, dtype, shape, device and values (exact for integers and booleans; within
    ``atol + rtol |expected|`` for floats, defaults by dtype). ``parts`` names a tuple's items."""
    if isinstance(expected, tuple):
        what = "(" + ", ".join(parts) + ")" if parts else f"of {len(expected)} items"
        if not isinstance(got, tuple) or len(got) != len(expected):
            size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
            raise AssertionError(f"{name} must return a tuple {what}, got a {type(got).__name__}{size}")
        for i, (g, e) in enumerate(zip(got, expected)):
            expect_same(parts[i] if parts else f"{name}[{i}]", g, e, atol=atol, rtol=rtol)
    elif isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = f"keys {sorted(got)}" if isinstance(got, dict) else f"a {type(got).__name__}"
            raise AssertionError(f"{name} must return a dict with keys {sorted(expected)}, got {keys}")
        for key in expected:
            expect_same(f"{name}[{key!r}]", got[key], expected[key], atol=atol, rtol=rtol)
    elif isinstance(expected, torch.Tensor):
        expect_tensor(name, got, tuple(expected.shape), dtype=expected.dtype)
        if got.device != expected.device:
            raise AssertionError(f"{name}: expected a tensor on {expected.device} (the inputs' device), "
                                 f"got one on {got.device}")
        if expected.is_floating_point():
            expect_close(name, got, expected.detach(), **dict(zip(("atol", "rtol"), _tolerance(expected, atol, rtol))))
        elif not torch.equal(got, expected):
            expect_close(name, got.long(), expected.long(), atol=0, rtol=0)
    elif isinstance(expected, (bool, int, float)):
        kind = type(expected)
        if not isinstance(got, kind) or (isinstance(got, bool) and kind is not bool):
            raise AssertionError(f"{name}: expected a Python {kind.__name__}, got {type(got).__name__}"
                                 + (" (use .item() or float(...))" if kind is float else ""))
        expect_close(name, float(got), float(expected), atol=1e-9 if atol is None else atol,
                     rtol=1e-9 if rtol is None else rtol)
    elif got != expected:
        raise AssertionError(f"{name}: expected {expected!r}, got {got!r}")


# --- Describing an input ----------------------------------------------------------------------


class Seeded:
    """A generator argument: every call gets a fresh ``torch.Generator().manual_seed(seed)``."""

    def __init__(self, seed: int):
        self.seed = seed

    def __repr__(self) -> str:
        return f"torch.Generator().manual_seed({self.seed})"

    def make(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)


class Named:
    """An argument (a function, a model, what a ``build`` makes one from), shown by the text
    that makes it; every call gets a copy."""

    def __init__(self, value: object, text: str):
        self.value, self.text = value, text

    def __repr__(self) -> str:
        return self.text


def _number(v: float | int | bool) -> str:
    """An int or bool as it is; a float to 6 digits, always with a point (0. is not 0)."""
    if isinstance(v, (bool, int)):
        return repr(v)
    text = f"{v:.6g}"
    return text if any(c in text for c in ".ein") else text + "."


def show(value: object) -> str:
    """Python that rebuilds ``value`` when it is small; its shape, dtype and range otherwise."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        dtype = f", dtype={value.dtype}" if value.dtype not in (torch.float32, torch.int64) else ""
        if value.numel() == 0:
            return f"torch.zeros({tuple(value.shape)}{dtype})"
        if value.numel() <= 24:
            nested = value.tolist()
            text = repr(nested) if not value.is_floating_point() else _nested(nested)
            return f"torch.tensor({text}{dtype})"
        low, high = _number(value.min().item()), _number(value.max().item())
        return f"a tensor of shape {tuple(value.shape)}, {value.dtype}, values in [{low}, {high}]"
    if isinstance(value, np.ndarray):
        if value.size <= 24:
            return f"np.array({value.tolist()!r}, dtype=np.{value.dtype})"
        return f"an array of shape {value.shape}, {value.dtype}"
    return repr(value)


def _nested(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    return _number(value)


def describe(case: dict) -> str:
    return "\n".join(f"    {key} = {show(value)}" for key, value in case.items())


def _fresh(value: object, grad: bool) -> object:
    """A copy for one call: a new generator, a new leaf tensor (requiring grad when asked)."""
    if isinstance(value, Seeded):
        return value.make()
    if isinstance(value, Named):
        return copy.deepcopy(value.value)  # a function is its own copy
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(grad and value.is_floating_point())
    return copy.deepcopy(value)


# --- The differential check ----------------------------------------------------------------------


@contextlib.contextmanager
def _own_inputs_only():
    """Hypothesis without the constants it collects from the source of every local module (the
    learner's file too) and caches under ``.hypothesis/``: the drawn inputs then depend on the
    seed alone, and nothing is written to disk. There is no setting for it, so its collector
    (a private function of the pinned Hypothesis) is replaced while a check draws; another
    Hypothesis without that function keeps its own behaviour."""
    try:
        from hypothesis.internal.conjecture import providers
        collect, empty, cache = providers._get_local_constants, providers.Constants, providers.CONSTANTS_CACHE
    except (ImportError, AttributeError):
        yield
        return
    providers._get_local_constants = empty
    cache.cache.clear()  # constants an earlier run may have drawn from
    try:
        yield
    finally:
        providers._get_local_constants = collect
        cache.cache.clear()


class _Stop(BaseException):
    """Carries a ``NotImplementedError`` out of Hypothesis untouched (the task is not started)."""

    def __init__(self, error: BaseException):
        self.error = error


@functools.lru_cache(maxsize=None)
def _solution(number: str):
    return exercise_files.load_module(exercise_files.find_exercise(number, exercise_files.SOLUTIONS))


def reference(number: str, name: str) -> Callable:
    """The function ``name`` of the reference solution ``solutions/ex{number}_*.py``."""
    return getattr(_solution(number), name)


def _where(fn: Callable, err: BaseException) -> str:
    source = getattr(inspect.unwrap(fn), "__code__", None)
    frames = [f for f in traceback.extract_tb(err.__traceback__) if source and f.filename == source.co_filename]
    return f" at line {frames[-1].lineno}: {frames[-1].line}" if frames else ""


def _named_in(message: str, value: object) -> bool:
    """Whether ``message`` names ``value`` (a tuple: any of its items), in any usual format."""
    if isinstance(value, tuple):
        return any(_named_in(message, v) for v in value)
    if isinstance(value, float):
        return any(form in message for form in {repr(value), str(value), f"{value:g}", f"{value:.2f}"})
    return str(value) in message


class _Run:
    """One drawn input, run through the reference and the learner's function."""

    def __init__(self, name: str, learner: Callable, expected_fn: Callable, *, grads: Sequence[str],
                 must_not: Sequence[str], mentions: Callable | None, compare: Callable | None, tolerance: dict,
                 parts: Sequence[str] | None, promise: str, build: Callable | None, observe: Callable | None):
        self.name, self.learner, self.expected_fn = name, learner, expected_fn
        self.grads, self.must_not, self.mentions, self.compare = tuple(grads), tuple(must_not), mentions, compare
        self.tolerance, self.parts, self.promise = tolerance, parts, promise
        self.build, self.observe = build, observe
        self.order = list(inspect.signature(expected_fn).parameters)

    def ordered(self, case: dict) -> dict:
        """The case in the order of the function's arguments (Hypothesis's fixed_dictionaries
        shuffles its keys), to be passed by position."""
        if set(case) != set(self.order):
            raise ValueError(f"the drawn case has the arguments {sorted(case)}; {self.name} takes {self.order}")
        return {k: case[k] for k in self.order}

    def _call(self, fn: Callable, case: dict) -> tuple[dict, object, BaseException | None]:
        args = (self.build(case) if self.build else
                {k: _fresh(v, k in self.grads + self.must_not) for k, v in case.items()})
        try:
            result = fn(*args.values())
        except NotImplementedError as err:
            raise _Stop(err) from None
        except Exception as err:
            return args, None, err
        return args, self.observe(args, result) if self.observe and result is not None else result, None

    def difference(self, case: dict) -> str | None:
        """What differs on ``case`` (None when the learner's function agrees with the reference)."""
        case = self.ordered(case)
        ref_args, expected, ref_error = self._call(self.expected_fn, case)
        args, got, error = self._call(self.learner, case)
        if isinstance(error, (ChangedArgument, exercise_files.ReturnedNone)):
            return str(error)
        if ref_error is not None:
            return self._exception(case, ref_error, got, error)
        if error is not None:
            return (f"for this valid input your code raised {type(error).__name__}: {error}"
                    f"{_where(self.learner, error)}")
        try:
            if self.compare is not None:
                self.compare(self.name, got, expected, case)
            else:
                expect_same(self.name, got, expected, parts=self.parts, **self.tolerance)
            if self.grads or self.must_not:
                self._gradients(args, got, ref_args, expected)
        except AssertionError as err:
            return str(err)
        return None

    def _exception(self, case, ref_error, got, error) -> str | None:
        kind = type(ref_error).__name__
        if error is None:
            return f"expected a {kind} for this input ({self.promise}), but your function returned {show(got)}"
        if not isinstance(error, type(ref_error)):
            return (f"for this input your code raised {type(error).__name__}: {error}; expected a {kind} "
                    f"({self.promise}){_where(self.learner, error)}")
        named = self.mentions(case) if self.mentions else []
        missing = [" or ".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in named
                   if not _named_in(str(error), v)]
        if missing:
            return f"your {kind} says {str(error)!r}: its message must name {' and '.join(missing)} ({self.promise})"
        return None

    def _gradients(self, args: dict, got: object, ref_args: dict, expected: object) -> None:
        """Part by part of the result: a gradient reaches every input the reference's part
        sends one to, none reaches those in ``must_not``, and they equal the reference's."""
        names = self.grads + self.must_not
        for label, theirs_part, ours_part in _float_pairs(self.name, got, expected, self.parts):
            ours = expect_gradients(label, ours_part, {k: ref_args[k] for k in names}, self.must_not, required=())
            tolerance = {k: _tolerance(ours[k], *self.tolerance.values()) for k in self.grads if ours[k] is not None}
            # the reference's part depends on the input beyond round-off (rec = kl - (kl - rec) does not)
            needed = [k for k, (atol, _) in tolerance.items() if bool((ours[k].abs() > atol).any())]
            theirs = expect_gradients(label, theirs_part, {k: args[k] for k in names}, self.must_not, required=needed)
            for key in needed:
                expect_close(f"the gradient reaching {key} from {label} (of a weighted sum of its entries)",
                             theirs[key], ours[key], **dict(zip(("atol", "rtol"), tolerance[key])))


def differential(name: str, learner: Callable, expected_fn: Callable, cases: st.SearchStrategy[dict], *,
                 grads: Sequence[str] = (), must_not: Sequence[str] = (), mentions: Callable | None = None,
                 compare: Callable | None = None, atol: float | None = None, rtol: float | None = None,
                 parts: Sequence[str] | None = None, promise: str = "the docstring says so",
                 build: Callable[[dict], dict] | None = None, observe: Callable[[dict, object], object] | None = None,
                 max_examples: int = MAX_EXAMPLES) -> None:
    """Compare ``learner`` with the reference ``expected_fn`` on inputs drawn from ``cases`` (a
    strategy of ``{argument: value}`` dicts in the function's argument order). Every call gets
    fresh copies (or ``build(case)``, the arguments made afresh); the arguments named in
    ``grads`` require grad and must get a gradient equal to the reference's, those in
    ``must_not`` must get none. Where the reference raises, the learner must raise the same
    type, naming ``mentions(case)`` in its message (``promise`` says where the docstring
    promises it). What is compared is the result, or ``observe(arguments, result)`` (the state
    a call leaves behind, say); ``compare(name, got, expected, case)`` replaces ``expect_same``.

    Fails on the smallest input found (Hypothesis shrinks it), showing it, then what differs.
    """
    run = _Run(name, learner, expected_fn, grads=grads, must_not=must_not, mentions=mentions, compare=compare,
               tolerance={"atol": atol, "rtol": rtol}, parts=parts, promise=promise, build=build, observe=observe)
    seen: list[str] = []

    def differs(case: dict) -> bool:
        message = run.difference(case)
        if message is not None:
            seen.append(message)
        return message is not None

    try:
        with _own_inputs_only():
            smallest = find(cases, differs, settings=settings(max_examples=max_examples, **SETTINGS))
    except NoSuchExample:
        return
    except _Stop as stop:
        raise stop.error from None
    message = run.difference(smallest) or seen[-1]  # a function that is not reproducible: its last failure
    raise AssertionError(f"{name} disagrees with the reference solution on this input (the smallest of "
                         f"{max_examples} drawn from the domain its docstring states):\n"
                         f"{describe(run.ordered(smallest))}\n"
                         f"{message}")


# --- Strategies for the course's inputs ----------------------------------------------------------

dtypes = st.sampled_from(FLOATS)
batch_sizes = st.sampled_from([1, 2, 3, 5])  # 1 and odd sizes: broadcasting and squeeze mistakes show
seeds = st.builds(Seeded, st.integers(0, 2 ** 16))


SMALL = 4  # entries drawn one by one (and shrunk one by one) in every tensor; a seed fills the rest


@st.composite
def tensors(draw, shape: Sequence[int], dtype: torch.dtype = torch.float32, low: float = -3.0, high: float = 3.0,
            edges: Sequence[float] = (), palette: Sequence[float] | None = None) -> torch.Tensor:
    """A tensor of ``shape`` and ``dtype`` with entries in [low, high] or from ``edges`` (extreme
    values the docstring allows), or only from ``palette`` (few values: repeats, ties).

    The first ``SMALL`` entries are drawn one by one, so that Hypothesis shrinks each of them
    (towards 0, or ``low`` when 0 is outside); the rest come from a drawn seed, about 1 in 5 an
    edge. Every tensor takes the same draws whatever its shape, which lets Hypothesis shrink the
    shape without losing its way in the draws that follow."""
    n = int(np.prod(shape)) if len(shape) else 1
    choices = list(palette) if palette is not None else list(edges)
    numbers = (st.sampled_from(choices) if palette is not None else
               st.floats(low, high, allow_nan=False, allow_infinity=False))
    if edges and palette is None:
        numbers = st.one_of(numbers, st.sampled_from(choices))
    first = torch.tensor(draw(st.lists(numbers, min_size=SMALL, max_size=SMALL)), dtype=torch.float64)
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 16)))
    rest = low + (high - low) * torch.rand(max(n - SMALL, 0), generator=g, dtype=torch.float64)
    if choices:
        picked = torch.tensor(choices, dtype=torch.float64)[torch.randint(len(choices), rest.shape, generator=g)]
        rest = torch.where(torch.rand(rest.shape, generator=g) < (1.0 if palette is not None else 0.2), picked, rest)
    return torch.cat([first[:n], rest]).reshape(tuple(shape)).to(dtype)
