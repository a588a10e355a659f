"""Providers under test: the protocol (:mod:`.base`), the kinds a config names (:mod:`.kinds`, where a
plug-in's :class:`~bakeoff.replay.providers.kinds.ProviderKind` goes through the ``bakeoff.providers``
entry point), the HTTP APIs (:mod:`.openai`, :mod:`.anthropic`), the simulated models, the provider
config and the translation between APIs."""
