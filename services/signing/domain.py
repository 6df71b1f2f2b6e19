"""Domain rules of the signing service: plain Python, no Nameko, SQLAlchemy or marshmallow."""
