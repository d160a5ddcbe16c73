"""Jinja2 templates of the pages (a package so that its files ship as package data)."""
