"""numpydoc validation of every public class, method and function."""

import inspect

import pytest

import skgn

validate = pytest.importorskip("numpydoc.validate").validate

# Checks not enforced: see-also, examples and extended-summary sections are optional;
# GL01/GL02 are about where the docstring text starts and ends; RT02 forbids a named
# single return value ("self : object"), which scikit-learn itself uses.
IGNORED = {"SA01", "EX01", "ES01", "GL01", "GL02", "RT02"}


def _public_objects():
    for name in skgn.__all__:
        obj = getattr(skgn, name)
        yield f"skgn.{name}"
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                is_public = not attr.startswith("_") or attr == "__call__"
                if is_public and (inspect.isfunction(member) or isinstance(member, property)):
                    yield f"skgn.{name}.{attr}"


@pytest.mark.parametrize("qualname", sorted(set(_public_objects())))
def test_numpydoc(qualname):
    result = validate(qualname)
    errors = [(code, msg) for code, msg in result["errors"] if code not in IGNORED]
    assert not errors, "\n".join(f"{code}: {msg}" for code, msg in errors)
