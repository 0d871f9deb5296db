"""A generated PostgreSQL revision chain (45 revisions) that exercises every object kind `dbops squash`
renders: schemas, extensions, enums (altered), domains, composite types, sequences (standalone, serial,
identity kept under an old name by a table rename), defaults added then dropped, renamed columns,
dropped columns, generated columns, collations, CHECK (renamed as a naming convention would, NOT VALID),
UNIQUE (deferrable), FK (ON DELETE/UPDATE, DEFERRABLE), EXCLUDE, indexes (rebuilt, DESC NULLS LAST,
INCLUDE, partial, expression, operator class, gin/brin/hash), partitioned tables, UNLOGGED and
reloptions, comments on everything, functions and procedures (replaced; SQL-standard bodies; returning
a table's rows), triggers (replaced, disabled), views, a view over a view, a materialized view with an
index, row-level security with a policy, grants, and one data revision (seed rows)."""
from __future__ import annotations

from pathlib import Path

from tests.helpers import dbops_app

STEPS: list[tuple[str, str]] = [  # (message, upgrade body)
    ("schema and extensions", """
    op.execute("CREATE SCHEMA audit")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS citext")"""),
    ("enum and domains", """
    op.execute("CREATE TYPE order_status AS ENUM ('new', 'paid')")
    op.execute("CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0)")
    op.execute("CREATE DOMAIN short_code AS varchar(8) DEFAULT 'none' NOT NULL CONSTRAINT short_code_upper "
               "CHECK (VALUE = upper(VALUE))")"""),
    ("composite type", """
    op.execute("CREATE TYPE address AS (street text, city text, zip varchar(10))")"""),
    ("function used by a default", """
    op.execute(\"\"\"CREATE FUNCTION gen_code() RETURNS text LANGUAGE plpgsql AS $$
BEGIN RETURN upper(substr(md5(random()::text), 1, 8)); END $$\"\"\")"""),
    ("customers", """
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.String(100)),
        sa.Column("legacy", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )"""),
    ("default added then dropped", """
    op.add_column("customers", sa.Column("tier", sa.String(20), server_default="basic", nullable=False))
    op.alter_column("customers", "tier", server_default=None)"""),
    ("rename column", """
    op.alter_column("customers", "name", new_column_name="full_name")"""),
    ("widen and collate", """
    op.execute('ALTER TABLE customers ALTER COLUMN full_name TYPE varchar(200) COLLATE "C"')"""),
    ("drop a column", """
    op.drop_column("customers", "legacy")"""),
    ("code from a function, citext and domain columns", """
    op.execute("ALTER TABLE customers ADD COLUMN code text DEFAULT gen_code() NOT NULL")
    op.execute("ALTER TABLE customers ADD COLUMN handle citext")
    op.execute("ALTER TABLE customers ADD COLUMN region short_code")
    op.execute("ALTER TABLE customers ADD COLUMN home address")"""),
    ("orders with identity, enum, FK", """
    op.execute(\"\"\"CREATE TABLE orders (
        id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 5),
        customer_id integer NOT NULL REFERENCES customers(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        status order_status NOT NULL DEFAULT 'new',
        amount numeric(10,2) NOT NULL,
        quantity positive_int,
        placed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (id))\"\"\")"""),
    ("check renamed by a naming convention", """
    op.execute("ALTER TABLE orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0)")
    op.execute("ALTER TABLE orders RENAME CONSTRAINT orders_amount_check TO ck_orders_amount_non_negative")"""),
    ("not valid check", """
    op.execute("ALTER TABLE orders ADD CONSTRAINT ck_orders_recent CHECK (placed_at > '2000-01-01') NOT VALID")"""),
    ("generated column", """
    op.execute("ALTER TABLE orders ADD COLUMN amount_cents bigint "
               "GENERATED ALWAYS AS ((amount * 100)::bigint) STORED")"""),
    ("index built", """
    op.create_index("ix_orders_customer", "orders", ["customer_id"])"""),
    ("index rebuilt DESC NULLS LAST INCLUDE partial", """
    op.drop_index("ix_orders_customer", table_name="orders")
    op.execute("CREATE INDEX ix_orders_customer ON orders (customer_id, placed_at DESC NULLS LAST) "
               "INCLUDE (amount) WHERE status <> 'new'")"""),
    ("expression, trigram, brin, hash indexes", """
    op.execute("CREATE UNIQUE INDEX ux_customers_email_lower ON customers (lower(email))")
    op.execute("CREATE INDEX ix_customers_name_trgm ON customers USING gin (full_name gin_trgm_ops)")
    op.execute("CREATE INDEX ix_orders_placed_brin ON orders USING brin (placed_at) WITH (pages_per_range = 32)")
    op.execute("CREATE INDEX ix_customers_code_hash ON customers USING hash (code)")"""),
    ("enum altered", """
    op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
    op.execute("ALTER TYPE order_status ADD VALUE 'pending' BEFORE 'paid'")"""),
    ("deferrable unique", """
    op.execute("ALTER TABLE customers ADD CONSTRAINT uq_customers_code UNIQUE (code) "
               "DEFERRABLE INITIALLY IMMEDIATE")"""),
    ("standalone sequence used by a default", """
    op.execute("CREATE SEQUENCE invoice_no_seq START WITH 1000 INCREMENT BY 10 MAXVALUE 999999 CYCLE")
    op.execute(\"\"\"CREATE TABLE invoices (
        id serial PRIMARY KEY,
        number integer NOT NULL DEFAULT nextval('invoice_no_seq'),
        order_id bigint REFERENCES orders(id) ON UPDATE SET NULL ON DELETE SET NULL)\"\"\")"""),
    ("identity table renamed", """
    op.execute("CREATE TABLE tmp_items (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, label text)")
    op.execute("ALTER TABLE tmp_items RENAME TO items")
    op.execute("ALTER INDEX tmp_items_pkey RENAME TO items_pkey")"""),
    ("exclusion constraint", """
    op.execute(\"\"\"CREATE TABLE bookings (
        id serial PRIMARY KEY, room integer NOT NULL, during tstzrange NOT NULL,
        CONSTRAINT ex_bookings_overlap EXCLUDE USING gist (during WITH &&))\"\"\")"""),
    ("audit schema table", """
    op.execute(\"\"\"CREATE TABLE audit.events (
        id bigserial PRIMARY KEY, payload jsonb NOT NULL DEFAULT '{}'::jsonb,
        at timestamptz NOT NULL DEFAULT clock_timestamp(), customer_id integer REFERENCES public.customers(id))\"\"\")
    op.execute("CREATE INDEX ix_events_payload ON audit.events USING gin (payload jsonb_path_ops)")"""),
    ("updated_at trigger", """
    op.execute("ALTER TABLE customers ADD COLUMN updated_at timestamptz")
    op.execute(\"\"\"CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END $$\"\"\")
    op.execute("CREATE TRIGGER trg_customers_touch BEFORE UPDATE ON customers FOR EACH ROW "
               "EXECUTE FUNCTION touch_updated_at()")"""),
    ("function and trigger replaced", """
    op.execute(\"\"\"CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$\"\"\")
    op.execute("DROP TRIGGER trg_customers_touch ON customers")
    op.execute("CREATE TRIGGER trg_customers_touch BEFORE UPDATE OF full_name, email ON customers FOR EACH ROW "
               "WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION touch_updated_at()")"""),
    ("audit trigger, disabled", """
    op.execute(\"\"\"CREATE FUNCTION audit.log_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit.events (payload) VALUES (to_jsonb(NEW)); RETURN NEW; END $$\"\"\")
    op.execute("CREATE TRIGGER trg_orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit.log_order()")
    op.execute("ALTER TABLE orders DISABLE TRIGGER trg_orders_audit")"""),
    ("SQL-standard function and one returning rows", """
    op.execute(\"\"\"CREATE FUNCTION customer_count() RETURNS bigint LANGUAGE sql STABLE
BEGIN ATOMIC SELECT count(*) FROM customers; END\"\"\")
    op.execute(\"\"\"CREATE FUNCTION orders_of(c integer) RETURNS SETOF orders LANGUAGE sql STABLE AS $$
SELECT * FROM orders WHERE customer_id = c $$\"\"\")"""),
    ("procedure", """
    op.execute(\"\"\"CREATE PROCEDURE archive_orders(before timestamptz) LANGUAGE sql AS $$
DELETE FROM orders WHERE placed_at < before $$\"\"\")"""),
    ("view", """
    op.execute(\"\"\"CREATE VIEW customer_totals AS
SELECT c.id, c.full_name, sum(o.amount) AS total FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
GROUP BY c.id\"\"\")"""),
    ("view over a view, security barrier", """
    op.execute(\"\"\"CREATE VIEW big_customers WITH (security_barrier) AS
SELECT id, full_name FROM customer_totals WHERE total > 1000\"\"\")"""),
    ("materialized view with an index", """
    op.execute(\"\"\"CREATE MATERIALIZED VIEW daily_sales AS
SELECT date_trunc('day', placed_at) AS day, sum(amount) AS amount FROM orders GROUP BY 1\"\"\")
    op.execute("CREATE UNIQUE INDEX ux_daily_sales_day ON daily_sales (day)")"""),
    ("row level security", """
    op.execute("ALTER TABLE customers ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY p_customers_active ON customers FOR SELECT TO PUBLIC USING (tier <> 'banned')")"""),
    ("grants", """
    op.execute("GRANT SELECT ON customer_totals TO PUBLIC")
    op.execute("REVOKE EXECUTE ON FUNCTION gen_code() FROM PUBLIC")"""),
    ("comments", """
    op.execute("COMMENT ON TABLE customers IS 'People who buy'")
    op.execute("COMMENT ON COLUMN customers.email IS 'Login; unique case-insensitively'")
    op.execute("COMMENT ON INDEX ix_orders_customer IS 'Open orders by customer'")
    op.execute("COMMENT ON CONSTRAINT ck_orders_amount_non_negative ON orders IS 'No negative orders'")
    op.execute("COMMENT ON FUNCTION gen_code() IS 'Random customer code'")
    op.execute("COMMENT ON VIEW customer_totals IS 'Totals per customer'")
    op.execute("COMMENT ON SCHEMA audit IS 'Append-only history'")
    op.execute("COMMENT ON TYPE order_status IS 'Order lifecycle'")"""),
    ("partitioned table", """
    op.execute("CREATE TABLE measurements (at date NOT NULL, value double precision) PARTITION BY RANGE (at)")
    op.execute("CREATE TABLE measurements_2025 PARTITION OF measurements "
               "FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')")
    op.execute("CREATE TABLE measurements_2026 PARTITION OF measurements "
               "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
    op.execute("CREATE INDEX ix_measurements_at ON measurements (at)")"""),
    ("unlogged and fillfactor", """
    op.execute("CREATE UNLOGGED TABLE sessions (token text PRIMARY KEY, data bytea) WITH (fillfactor = 70)")"""),
    ("countries seed data", """
    op.create_table("countries", sa.Column("code", sa.String(2), primary_key=True),
                    sa.Column("name", sa.Text, nullable=False))
    countries = sa.table("countries", sa.column("code"), sa.column("name"))
    op.bulk_insert(countries, [{"code": "FR", "name": "France"}, {"code": "JP", "name": "Japan"}])
    op.execute("INSERT INTO countries (code, name) VALUES ('BR', 'Brazil')")"""),
    ("table created then dropped", """
    op.create_table("scratchpad", sa.Column("id", sa.Integer, primary_key=True))
    op.drop_table("scratchpad")"""),
    ("nullability and type change", """
    op.alter_column("customers", "full_name", nullable=False, existing_type=sa.String(200))
    op.execute("ALTER TABLE invoices ALTER COLUMN number TYPE bigint")"""),
    ("index renamed", """
    op.execute("ALTER INDEX ix_customers_code_hash RENAME TO ix_customers_code")"""),
    ("default changed", """
    op.alter_column("orders", "status", server_default=sa.text("'pending'::order_status"))"""),
    ("fk to countries", """
    op.add_column("customers", sa.Column("country", sa.String(2), sa.ForeignKey("countries.code",
                  name="fk_customers_country", onupdate="CASCADE")))"""),
    ("column comment on a view and cluster", """
    op.execute("COMMENT ON COLUMN customer_totals.total IS 'Sum of all orders'")
    op.execute("ALTER TABLE orders CLUSTER ON orders_pkey")"""),
    ("function with defaults, security definer", """
    op.execute(\"\"\"CREATE FUNCTION discount(amount numeric, pct integer DEFAULT 10) RETURNS numeric
LANGUAGE sql IMMUTABLE SECURITY DEFINER SET search_path = public AS $$ SELECT amount * (100 - pct) / 100 $$\"\"\")"""),
    ("check on a domain column and a last index", """
    op.execute("ALTER TABLE orders ADD CONSTRAINT ck_orders_quantity CHECK (quantity < 1000)")
    op.execute("CREATE INDEX ix_orders_status ON orders (status) WHERE status IN ('new', 'pending')")"""),
]

SEED_REVISION = "r37"  # countries seed data (bulk_insert + INSERT)


def revisions() -> list[tuple[str, str | None, str, str, str]]:
    out = []
    for i, (message, body) in enumerate(STEPS, start=1):
        rev = f"r{i:02d}"
        down = f"r{i - 1:02d}" if i > 1 else None
        out.append((rev, down, message, body.strip("\n"), "    pass"))
    return out


def chain_app(root: Path, name: str = "app") -> Path:
    return dbops_app(root, name, revisions())
