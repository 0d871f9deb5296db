"""check-drift: models vs migrations (replayed into a scratch database) vs the live database.

schema.py (normalised schema) <- reflect.py (live/scratch, batched catalog reads) and
from_models.py (MetaData compiled for the dialect); normalize.py (types, defaults, SQL text);
compare.py (comparator registry -> Difference); scratch.py (temporary databases);
classify.py (three-way verdicts); ops.py (would-be Alembic code); locate.py (model file/line).
"""
