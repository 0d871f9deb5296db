"""Lower-case user emails (Python path: a function over each batch of rows)."""
from dbops.data import DataMigration


def lowercase(rows: list[dict]) -> list[dict]:
    return [{"id": r["id"], "email": r["email"].lower()} for r in rows if r["email"] != r["email"].lower()]


migration = DataMigration(
    name="users_email_lowercase",
    table="users",
    key="id",
    fn=lowercase,
    columns=["email"],
    requires="0001",
)
