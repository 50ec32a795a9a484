"""pylib.losses"""
