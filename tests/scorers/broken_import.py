"""A custom scorer module that fails to import, as a user's module with a missing dependency would."""

import evalstream_no_such_dependency  # noqa: F401
