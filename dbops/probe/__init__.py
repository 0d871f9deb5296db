"""dbops probe: PostgreSQL server health for on-call engineers, worst thing first.

queries.py holds one named SQL constant per signal; collect.py reads them into a Sample;
assess.py turns a Sample into findings with Nagios levels and the verdict line."""
