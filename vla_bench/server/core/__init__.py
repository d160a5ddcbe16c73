"""Settings, database engine, migrations, security and request limits of the server."""
