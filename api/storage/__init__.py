"""Storage: SQLAlchemy 2 async models, the database handle and per-resource query modules."""
