"""ACLED exports: reading ACLED's CSV (export tool or API) as Frontline reports.

`rows` maps one row to a report (pure), `countries` and `actors` hold the name tables it uses,
`recording` registers what a row needs in the import's transaction, and `source` reads the file.
"""
