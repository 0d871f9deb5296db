"""The one bridge to Alembic: everything that knows Alembic's objects and files.

- project.py: dbops's Config -> Alembic's Config and ScriptDirectory (readable load errors), the
  models' MetaData, the database's heads
- env_settings.py: what dbops hands a migration environment (URL, metadata, timeouts), on the Alembic
  Config's attributes
- env.py: what a project's migrations/env.py runs (public name: ``dbops.alembic_env``)
- scaffold.py, adopt.py, templates/: ``dbops init`` for a new project, and for one that has Alembic
"""
