"""Many databases: expand named targets and groups (static lists, URL templates, tenant
schemas) into per-target configs, and fan a command out over them in parallel processes."""
