"""The system of record: agencies, quotas, plans, vehicles, drivers, costs and the audit chain (SQLAlchemy 2).

Services are `fn(session, actor, *, ...)` in `registry`, `plans`, `vehicles`, `drivers`, `costs`; reads in
`queries`; the rules as pure checks in `rules`; their numbers in `policy`; reports in `reports`.
"""
