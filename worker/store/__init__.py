"""The database edge: tables, migrations, and repository functions."""
