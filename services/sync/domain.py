"""Domain rules of the sync service: plain Python, no Nameko, SQLAlchemy or marshmallow."""
