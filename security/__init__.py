"""Security: PKI and mTLS material, signing, keystore, boundary policy, access control and the audit chain."""
