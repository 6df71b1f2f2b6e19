"""Use cases of the reporting service: the employee read model fed from the records log
(projection.py), finding employees in it (search.py), and watching that every read model keeps
up with its source (watch.py)."""
