"""Tests of jaxser.data; fixtures.py builds small corpus trees for them."""
