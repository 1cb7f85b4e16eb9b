"""Accounts: who may sign in and call the API.

- users     users and their argon2id passwords; sign-in through the throttle
- throttle  how many password checks run at once, and who may try again when
- tokens    API tokens, stored as SHA-256 hashes
- admin     what administrators do to accounts: roles, disabling, deletion, invitations
"""
