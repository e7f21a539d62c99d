"""Declarative parameter checks on :func:`sklearn.utils.check_scalar`, sample weights, inputs.

scikit-learn's ``_parameter_constraints`` machinery and ``_check_sample_weight`` are
private API. Each estimator parameter is instead declared once as an :class:`Interval` or
:class:`Options` spec; :func:`validate_params` runs the numeric ones through the public
:func:`sklearn.utils.check_scalar` and raises :class:`InvalidParameterError`, which (as in
scikit-learn) is both a ``ValueError`` and a ``TypeError``, with a message that names the
parameter and what it accepts.
"""

import numbers
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.utils import check_array, check_scalar
from sklearn.utils.validation import validate_data


class InvalidParameterError(ValueError, TypeError):
    """Raised when an estimator parameter has a wrong type or value."""


@dataclass(frozen=True)
class Interval:
    """A real or integer parameter in ``[low, high]`` (either end open or unbounded).

    Parameters
    ----------
    kind : {numbers.Real, numbers.Integral}
        Accepted type; ``bool`` is never accepted.
    low, high : float or None
        Bounds; ``None`` means unbounded on that side.
    closed : {'both', 'left', 'right', 'neither'}
        Which bounds are allowed values.
    allow_none : bool
        Whether ``None`` is accepted (and returned as is).
    """

    kind: type
    low: float = None
    high: float = None
    closed: str = "both"
    allow_none: bool = False

    def check(self, value, name):
        """Return ``value`` as ``int`` or ``float``, or raise :class:`InvalidParameterError`."""
        if value is None and self.allow_none:
            return None
        noun = "an integer" if self.kind is numbers.Integral else "a real number"
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            raise InvalidParameterError(
                f"The '{name}' parameter must be {noun}, got {value!r} of type "
                f"{type(value).__name__}."
            )
        if self.kind is numbers.Real and not np.isfinite(value):
            raise InvalidParameterError(f"The '{name}' parameter must be finite, got {value}.")
        try:
            check_scalar(value, name, self.kind, min_val=self.low, max_val=self.high,
                         include_boundaries=self.closed)
        except ValueError as exc:
            raise InvalidParameterError(
                f"The '{name}' parameter must be {self._violated_bound(value)}, got {value}."
            ) from exc
        return int(value) if self.kind is numbers.Integral else float(value)

    def describe(self):
        """The accepted values, in words."""
        noun = "an integer" if self.kind is numbers.Integral else "a real number"
        bounds = [b for b in (self._bound("low"), self._bound("high")) if b]
        return noun + (" " + " and ".join(bounds) if bounds else "")

    def _bound(self, side):
        if side == "low" and self.low is not None:
            return (">= " if self.closed in ("both", "left") else "> ") + f"{self.low}"
        if side == "high" and self.high is not None:
            return ("<= " if self.closed in ("both", "right") else "< ") + f"{self.high}"
        return ""

    def _violated_bound(self, value):
        low_closed = self.closed in ("both", "left")
        if self.low is not None and (value < self.low or (value == self.low and not low_closed)):
            return self._bound("low")
        return self._bound("high")


@dataclass(frozen=True)
class Options:
    """A parameter that takes one of a few fixed values (strings or booleans).

    Parameters
    ----------
    values : tuple
        The allowed values.
    """

    values: tuple

    def describe(self):
        """The accepted values, in words."""
        return "one of " + ", ".join(repr(o) for o in self.values)

    def check(self, value, name):
        """Return ``value``, or raise :class:`InvalidParameterError`."""
        if not isinstance(value, (str, bool, np.bool_)) or value not in self.values:
            allowed = ", ".join(repr(o) for o in self.values)
            raise InvalidParameterError(
                f"The '{name}' parameter must be one of {allowed}; got {value!r}."
            )
        return value


BOOLEAN = Options((True, False))


@dataclass(frozen=True)
class FloatDType:
    """A floating-point precision: ``numpy.float64`` or ``numpy.float32``, or their names.

    Parameters
    ----------
    values : tuple of str
        Names of the accepted dtypes.
    """

    values: tuple = ("float64", "float32")

    def describe(self):
        """The accepted values, in words."""
        return "one of " + ", ".join(f"numpy.{v}" for v in self.values) + " (or their names)"

    def check(self, value, name):
        """Return the value as a :class:`numpy.dtype`, or raise :class:`InvalidParameterError`."""
        try:
            dtype = np.dtype(value) if value is not None else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.name not in self.values:
            raise InvalidParameterError(
                f"The '{name}' parameter must be {self.describe()}; got {value!r}."
            )
        return dtype


@dataclass(frozen=True)
class AnyOf:
    """A parameter that satisfies any one of several specs (for example ``'auto'`` or a
    number).

    Parameters
    ----------
    specs : tuple
        The alternatives, tried in order.
    """

    specs: tuple

    def check(self, value, name):
        """Return ``value`` as the first spec that accepts it converts it."""
        errors = []
        for spec in self.specs:
            try:
                return spec.check(value, name)
            except InvalidParameterError as exc:
                errors.append((spec, exc))
        typed = [exc for spec, exc in errors
                 if isinstance(spec, Interval) and isinstance(value, spec.kind)
                 and not isinstance(value, (bool, np.bool_))]
        if len(typed) == 1:
            # A number of the right type but out of range: the interval's own message.
            raise typed[0]
        raise InvalidParameterError(
            f"The '{name}' parameter must be "
            f"{' or '.join(spec.describe() for spec in self.specs)}; got {value!r}."
        )


@dataclass(frozen=True)
class Grid:
    """A non-empty 1-D sequence of finite numbers ``> low`` (or ``None`` for the default).

    Parameters
    ----------
    low : float
        Exclusive lower bound of every entry.
    """

    low: float = 0.0

    def check(self, value, name):
        """Return ``value`` as a tuple of floats (``None`` unchanged)."""
        if value is None:
            return None
        try:
            grid = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"The '{name}' parameter must be a sequence of numbers, got {value!r}."
            ) from exc
        if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(
                grid <= self.low):
            raise InvalidParameterError(
                f"The '{name}' parameter must be a non-empty 1-D sequence of finite numbers "
                f"> {self.low}, got {value!r}."
            )
        return tuple(float(v) for v in grid)


def validate_params(values, specs):
    """Check every parameter against its spec.

    Parameters
    ----------
    values : dict
        ``{name: value}``, for example ``estimator.get_params()``.
    specs : dict
        ``{name: Interval or Options}``; parameters without a spec are returned as given.

    Returns
    -------
    checked : dict
        The values, converted (``int``, ``float``) where a spec says so.

    Raises
    ------
    InvalidParameterError
        For the first parameter that fails its spec.
    """
    return {name: specs[name].check(value, name) if name in specs else value
            for name, value in values.items()}


def check_sample_weight(sample_weight, n_samples):
    """Validate sample weights: 1-D, length ``n_samples``, finite, non-negative.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        Weights; ``None`` means unweighted.
    n_samples : int
        Expected length.

    Returns
    -------
    sample_weight : ndarray of shape (n_samples,) or None
        A float64 copy (never the caller's array), or ``None``.

    Raises
    ------
    ValueError
        On a wrong shape, NaN or inf, a negative weight, or all weights zero (for an
        array or a scalar alike).
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number) or (
            isinstance(sample_weight, np.ndarray) and sample_weight.ndim == 0):
        # A scalar weights every sample alike; it is checked like an array.
        sample_weight = np.full(n_samples, sample_weight)
    sample_weight = check_array(
        sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight",
        copy=True,
    )
    if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) to match X, got "
            f"{sample_weight.shape}."
        )
    if np.any(sample_weight < 0):
        raise ValueError("sample_weight must be non-negative; got a negative weight.")
    if not np.any(sample_weight > 0):
        raise ValueError(
            "Sample weights must contain at least one non-zero number; all weights are zero."
        )
    return sample_weight


def check_squared_norms(X, name="X"):
    """Refuse inputs whose squared row norms overflow: every kernel and Gram entry would.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated, finite inputs.
    name : str, default='X'
        Name used in the message.

    Raises
    ------
    ValueError
        Naming the largest entry and the fix (standardize the features).
    """
    with np.errstate(over="ignore"):
        norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    if not np.all(np.isfinite(norms)):
        raise ValueError(
            f"{name} has entries up to {np.max(np.abs(X)):.3g}, so large that their squares "
            "overflow float64. Standardize the features (for example with "
            "sklearn.preprocessing.StandardScaler in a Pipeline)."
        )


def validate_input(estimator, X, y="no_validation", *, reset=True, **check_params):
    """:func:`sklearn.utils.validation.validate_data` for a dense or sparse ``X``, densified.

    ``X`` is checked as float64 or float32 (other dtypes become float64), a SciPy sparse
    matrix or array in any format is accepted, and the result is a dense array: the
    network's products are dense GEMMs with the ``n x d~`` inputs (``2 n m d~`` flops per
    Jacobian product whatever the sparsity of ``X``), and the dense copy, ``8 n d``
    bytes in float64, is what a dense ``X`` costs. The caller's matrix is not changed.

    Parameters
    ----------
    estimator : estimator
        Passed to ``validate_data`` (``n_features_in_``, ``feature_names_in_``).
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Inputs.
    y : array-like or 'no_validation', default='no_validation'
        Targets, validated with ``X`` unless ``'no_validation'``.
    reset : bool, default=True
        Whether to set ``n_features_in_`` (``fit``) or check it (``predict``).
    **check_params : dict
        More arguments of ``validate_data`` (``multi_output``, ``y_numeric``,
        ``ensure_min_samples``).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Dense inputs.
    y : ndarray
        Validated targets (only when ``y`` is given).
    """
    with_y = not (isinstance(y, str) and y == "no_validation")
    out = validate_data(estimator, X, y, reset=reset, accept_sparse=("csr", "csc", "coo"),
                        dtype=[np.float64, np.float32], **check_params)
    X, y = out if with_y else (out, None)
    X = X.toarray() if sparse.issparse(X) else X
    return (X, y) if with_y else X
