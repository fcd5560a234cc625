"""Usage operations: rating, pools, authorization and ingest, one module per concept."""
