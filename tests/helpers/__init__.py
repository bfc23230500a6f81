"""Helpers the tests import by name (`from tests.helpers.fake_k8s import FakeKubernetes`): fake servers, stand-ins
and builders. Fixtures live in the `conftest.py` files, not here."""
