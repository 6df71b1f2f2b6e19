"""Domain rules of the verification service: plain Python, no Nameko, SQLAlchemy or marshmallow."""
