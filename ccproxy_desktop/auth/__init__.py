"""Provider credentials: where tokens come from and how the proxy gets them.

- `credential`: `Credential`, one provider's tokens (never shown by repr/str), and its keyring JSON.
- `store`: the `SecretStore` protocol, `MemoryStore` (this session only), `FileStore` (opt-in plaintext).
- `keyring_store`: `KeyringStore` (the OS keyring) and `open_secret_store()`, which picks a store at start-up.
- `claude_import`: Claude Code's own login (credentials file or macOS Keychain) as a Credential.
- `oauth2`: the refresh-token grant.
- `schedule`: when a credential is due (pure).
- `manager`: `CredentialManager`, what the proxy process runs; the hooks' `TokenSource`.
- `sources`: `oat_sources` commands and files.

Nothing here is imported by this package itself: `keyring` costs a quarter of a second to import, and only
the modules that need it pay for it.
"""
