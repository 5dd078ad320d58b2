"""Audit: who read which personal data, when, from where and why (PIPL; 保密制度)."""
