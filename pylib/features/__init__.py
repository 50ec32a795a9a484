"""pylib.features"""
