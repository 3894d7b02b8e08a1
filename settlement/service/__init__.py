"""Settlement's use cases over the gateway's unit of work: the backfill of what succeeded before settlement
existed, and the balance cache with its recomputation (`ledger`); their jobs (`jobs`). Knows no SQL: the
ports it needs are in `ledger_ports` (importing only the domain, so that the gateway's own UnitOfWork port
can name the ledger too) and `ports`."""
