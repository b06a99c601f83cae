"""Staff web pages: server-rendered Jinja2 with vendored htmx (no CDN), local staff accounts with
roles, sessions with CSRF protection and security headers. Shared by every page of the platform
(the consent page now; the learning-progress dashboard and keurmerk pages later)."""
