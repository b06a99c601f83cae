"""Learning progress (Edu-V Progress API, leermateriaalgebruik): ingest of progress records from
content suppliers, groups, and the group-context analytics behind the mentor's pages."""
