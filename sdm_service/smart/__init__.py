"""SMART Backend Services (inbound): EHR clients authenticate with a signed JWT (private_key_jwt)
at the token endpoint and call the API with short-lived access tokens.

assertions.py checks an assertion (pure); jwks.py checks and fetches client key sets; replay.py
remembers used jtis across workers; tokens.py issues and recognises access tokens; discovery.py
is the .well-known document. The HTTP side is api/smart.py.
"""
