"""Domain rules of the requests service: plain Python, no Nameko, SQLAlchemy or marshmallow."""
