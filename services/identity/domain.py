"""Domain rules of the identity service: plain Python, no Nameko, SQLAlchemy or marshmallow."""
