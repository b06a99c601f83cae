"""The conformance suite: named scenarios that any implementation of a chain role is tested
against over HTTPS with client certificates, a runner, and reports (terminal, HTML, JUnit XML,
JSON). Nothing in here depends on the implementation under test being eduketen; what only
eduketen offers (its admin API, to observe effects and close a window) is optional."""
