"""Stand-ins for the venv's `nameko` and `simasn`, so scripts/stack.sh can be run by a test in a
directory of its own: no database, no broker, no port 8000 (tests/test_stack_script.py)."""
