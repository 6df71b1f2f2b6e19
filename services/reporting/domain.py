"""Domain rules of the reporting service: plain Python, no Nameko, SQLAlchemy or marshmallow."""
