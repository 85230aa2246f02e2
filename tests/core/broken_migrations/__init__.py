"""Migrations whose second step fails, to test that a failure rolls back and keeps history exact."""
