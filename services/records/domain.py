"""Domain rules of the records service: plain Python, no Nameko, SQLAlchemy or marshmallow."""
