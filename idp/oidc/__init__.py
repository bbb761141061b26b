"""The IdP as an OpenID Connect provider (OpenID Connect Core 1.0 and Discovery 1.0)."""
