"""Validation of parameters and sample weights.

scikit-learn's ``_parameter_constraints`` machinery and ``_check_sample_weight`` are
private API, so skgn validates with the public :func:`sklearn.utils.check_scalar` rules
re-stated here. Errors are :class:`InvalidParameterError`, which (as in scikit-learn)
is both a ``ValueError`` and a ``TypeError``.
"""

import numbers

import numpy as np
from sklearn.utils import check_array


class InvalidParameterError(ValueError, TypeError):
    """Raised when an estimator parameter has a wrong type or value."""


def check_real(value, name, *, low=None, low_inclusive=True, high=None):
    """Check that ``value`` is a real number within bounds.

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        Parameter name used in the error message.
    low, high : float, default=None
        Bounds; ``None`` means unbounded.
    low_inclusive : bool, default=True
        Whether ``low`` itself is allowed.

    Returns
    -------
    value : float

    Raises
    ------
    InvalidParameterError
        If ``value`` is not a finite real number in range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(
            f"The '{name}' parameter must be a real number, got {value!r} of type "
            f"{type(value).__name__}."
        )
    value = float(value)
    if not np.isfinite(value):
        raise InvalidParameterError(f"The '{name}' parameter must be finite, got {value}.")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise InvalidParameterError(f"The '{name}' parameter must be {op} {low}, got {value}.")
    if high is not None and value > high:
        raise InvalidParameterError(f"The '{name}' parameter must be <= {high}, got {value}.")
    return value


def check_int(value, name, *, low=None, allow_none=False):
    """Check that ``value`` is an integer ``>= low`` (or None when allowed).

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        Parameter name used in the error message.
    low : int, default=None
        Smallest allowed value.
    allow_none : bool, default=False
        Whether ``None`` is accepted.

    Returns
    -------
    value : int or None

    Raises
    ------
    InvalidParameterError
        If ``value`` is not an integer in range.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(
            f"The '{name}' parameter must be an integer, got {value!r} of type "
            f"{type(value).__name__}."
        )
    if low is not None and value < low:
        raise InvalidParameterError(f"The '{name}' parameter must be >= {low}, got {value}.")
    return int(value)


def check_option(value, name, options):
    """Check that ``value`` is one of ``options``.

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        Parameter name used in the error message.
    options : sequence
        Allowed values.

    Returns
    -------
    value : object

    Raises
    ------
    InvalidParameterError
        If ``value`` is not in ``options``.
    """
    if not isinstance(value, (str, bool, np.bool_)) or value not in options:
        allowed = ", ".join(repr(o) for o in options)
        raise InvalidParameterError(
            f"The '{name}' parameter must be one of {allowed}; got {value!r}."
        )
    return value


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
        On a wrong shape, NaN or inf, a negative weight, or all weights zero.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        return np.full(n_samples, float(sample_weight))
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
