from ..eduv import client_keys, eduv, eduv_settings, jwks_server  # noqa: F401
