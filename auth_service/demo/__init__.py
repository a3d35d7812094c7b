"""The demo page: a login form and the cookie session's calls, as static files.

`auth-service serve` answers /demo/ with them (auth_service/local/demo_page.py); deployed, the
`demo` function (handler.py) serves the same files from the same HTTP API, because the page must
share the API's origin: its cookies are host-only and the page reads the CSRF cookie.
"""
