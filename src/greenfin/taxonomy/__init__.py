"""Green identification: loans and projects labelled against the official catalogues, with evidence."""
