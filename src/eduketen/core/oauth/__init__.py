"""OAuth2 per the Edu-V M2M profile: client registration, the token endpoint (client_credentials
with private_key_jwt, RFC 7523), JWT access tokens (RFC 9068) signed by a rotating key set, and
the resource-side check that accepts our tokens and those of a configured external server."""
