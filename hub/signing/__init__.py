"""Signing: the cryptography behind safe recipes.

    crypto       Ed25519 keys, key ids, age encryption, SSH keys (the only module touching ``cryptography``)
    primitives   DSSE's PAE, canonical JSON, file digests: computed the same by signer and verifier
"""
