from tests.drift.conftest import mini_app  # noqa: F401  (the same three-revision app)
