"""Tracker: short links that carry UTM tags, every click logged, orders joined to the clicks."""
