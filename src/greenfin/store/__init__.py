"""The store: tables, migrations and the queries that views need. It knows tables, not rules."""
