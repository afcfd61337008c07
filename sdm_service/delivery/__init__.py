"""Write-back: completed summaries delivered into the EHR's FHIR server from a durable job queue.

outbox.py (the deliveries table, written with the completion), queue.py (Huey: dispatch, retries,
the sweep), attempt.py (one attempt), client.py (SMART Backend Services client of the EHR),
keys.py (our signing keys and public JWKS), policy.py and resources.py (pure decisions and mapping).
"""
