"""SQLAlchemy Core adapters for the service layer's ports: tables, repositories, the unit of work."""
