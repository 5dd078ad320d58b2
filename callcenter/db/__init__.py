"""Database: SQLAlchemy models and Alembic migrations (the only way the schema changes)."""
