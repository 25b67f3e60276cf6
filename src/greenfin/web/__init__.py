"""The server-rendered pages: dashboard, loan book, a loan with its evidence, approvals, import.

They sit over the same services and the same session, CSRF and permission checks as the REST API
(``greenfin.api.security``), so a page can never do what the API would refuse.
"""
