"""Test configuration.

``SCIPY_ARRAY_API=1`` must be set before SciPy is first imported; scikit-learn's
``check_array_api_input`` is skipped without it, and no common check should be skipped.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")
